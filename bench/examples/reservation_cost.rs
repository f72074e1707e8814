//! What `limits.memory_reservation = "max_memory"` costs memory-bound code: the kernels with
//! memories reserved at 4 GiB (bounds checks elided) and at `max_memory` (explicit checks),
//! median of several calls on a live instance: `reservation_cost [RUNTIME]`.
use std::time::Instant;

use cage::policy::MemoryReservation;
use cage::{HostFunctions, Invocation, Policy, Value};
use cage_bench::workloads::{FIB_N, FIB_WAT, MATMUL_N, MATMUL_WAT, SIEVE_N, SIEVE_WAT, Source};

fn median_ms(name: cage::RuntimeName, policy: &Policy, wat: &'static str, arg: i32) -> f64 {
    let bytes = Source::Wat(wat).binary().unwrap();
    let rt = cage::runtime_named(name, policy).unwrap();
    let host = HostFunctions::new();
    let checked = cage::prepare(rt.as_ref(), &bytes, &host, &Invocation::Instantiate).unwrap();
    let m = rt.compile_dyn(&checked, &host).unwrap();
    cage::on_guest_thread(policy, || {
        let mut sb = m.sandbox().unwrap();
        sb.instantiate().unwrap();
        let mut times: Vec<f64> = (0..9)
            .map(|_| {
                let t = Instant::now();
                sb.call("run", &[Value::I32(arg)]).unwrap();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    })
    .unwrap()
}

fn main() {
    let only = std::env::args().nth(1);
    for name in cage::available_runtimes()
        .into_iter()
        .filter(|n| only.as_deref().is_none_or(|o| o == n.as_str()))
    {
        for (kernel, wat, arg) in [
            ("sieve", SIEVE_WAT, SIEVE_N),
            ("matmul", MATMUL_WAT, MATMUL_N),
            ("fib", FIB_WAT, FIB_N),
        ] {
            let full = median_ms(name, &Policy::default(), wat, arg);
            let small = median_ms(
                name,
                &Policy::default().with_memory_reservation(MemoryReservation::MaxMemory),
                wat,
                arg,
            );
            println!(
                "{name:18} {kernel:7} full {full:8.2} ms   max_memory {small:8.2} ms   ({:.2}×)",
                small / full
            );
        }
    }
}
