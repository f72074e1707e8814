//! Instance-per-request throughput on 1 thread and on one thread per core: a 1-page memory with
//! a data segment, a new sandbox, instantiation, a typed call and drop per request.
use std::time::Instant;

use cage::{HostFunctions, Invocation, Policy};

fn main() {
    let bytes = wat::parse_str(
        r#"(module (memory 1) (data (i32.const 0) "\2a")
            (func (export "run") (param i32) (result i32)
              (i32.add (local.get 0) (i32.load8_u (i32.const 0)))))"#,
    )
    .unwrap();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per_thread = 20_000;
    // `scaling [RUNTIME] [full|max_memory]`
    let reservation = match std::env::args().nth(2).as_deref() {
        Some("max_memory") => cage::policy::MemoryReservation::MaxMemory,
        _ => cage::policy::MemoryReservation::Full,
    };
    let policy = Policy::default().with_memory_reservation(reservation);
    let only = std::env::args().nth(1).filter(|o| o != "all");
    for name in cage::available_runtimes()
        .into_iter()
        .filter(|n| only.as_deref().is_none_or(|o| o == n.as_str()))
    {
        let rt = cage::runtime_named(name, &policy).unwrap();
        let host = HostFunctions::new();
        let checked = cage::prepare(rt.as_ref(), &bytes, &host, &Invocation::Instantiate).unwrap();
        let m = rt.compile_dyn(&checked, &host).unwrap();
        let rate = |threads: usize| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| {
                        cage::on_guest_thread(&policy, || {
                            for _ in 0..per_thread {
                                let mut sb = m.sandbox().unwrap();
                                sb.instantiate().unwrap();
                                let v = sb.call("run", &[cage::Value::I32(1)]).unwrap();
                                assert_eq!(v, [cage::Value::I32(43)]);
                            }
                        })
                        .unwrap();
                    });
                }
            });
            (threads * per_thread) as f64 / start.elapsed().as_secs_f64()
        };
        let one = rate(1);
        let many = rate(cores);
        println!(
            "{name}: 1 thread {:.0} requests/s, {cores} threads {:.0} requests/s ({:.2}×)",
            one,
            many,
            many / one
        );
    }
}
