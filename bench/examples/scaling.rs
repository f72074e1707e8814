//! Instance-per-request throughput on 1 thread and on one thread per core: a 1-page memory with
//! a data segment, a new sandbox, instantiation, a typed call and drop per request; on one
//! thread per core both with one shared runtime and with `cage::runtime_sharded` (a runtime per
//! thread behind the same API: its own engine, pool and caches). Rounds alternate the three, so each round's ratios share its machine
//! conditions; prints every round and the medians with their range.
//!
//! `PER_THREAD=N cargo run --release -p cage-bench --example scaling -- [RUNTIME|all]
//! [full|max_memory] [ROUNDS]`

use std::time::Instant;

use cage::{DynModule, HostFunctions, Invocation, Policy};

fn median_range(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!("{:.2} ({:.2}–{:.2})", v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let bytes = wat::parse_str(
        r#"(module (memory 1) (data (i32.const 0) "\2a")
            (func (export "run") (param i32) (result i32)
              (i32.add (local.get 0) (i32.load8_u (i32.const 0)))))"#,
    )
    .unwrap();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per_thread: usize = std::env::var("PER_THREAD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let reservation = match std::env::args().nth(2).as_deref() {
        Some("max_memory") => cage::policy::MemoryReservation::MaxMemory,
        _ => cage::policy::MemoryReservation::Full,
    };
    let rounds: usize = std::env::args()
        .nth(3)
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let policy = Policy::default().with_memory_reservation(reservation);
    let only = std::env::args().nth(1).filter(|o| o != "all");
    let host = HostFunctions::new();
    let compile = |name| -> Box<dyn DynModule> {
        let rt = cage::runtime_named(name, &policy).unwrap();
        let checked = cage::prepare(rt.as_ref(), &bytes, &host, &Invocation::Instantiate).unwrap();
        rt.compile_dyn(&checked, &host).unwrap()
    };
    let requests = |m: &dyn DynModule| {
        cage::on_guest_thread(&policy, || {
            for _ in 0..per_thread {
                let mut sb = m.sandbox().unwrap();
                sb.instantiate().unwrap();
                let v = sb.call("run", &[cage::Value::I32(1)]).unwrap();
                assert_eq!(v, [cage::Value::I32(43)]);
            }
        })
        .unwrap();
    };
    for name in cage::available_runtimes()
        .into_iter()
        .filter(|n| only.as_deref().is_none_or(|o| o == n.as_str()))
    {
        let shared = compile(name);
        // `cage::runtime_sharded`: a runtime per thread behind the same API.
        let sharded_rt = cage::runtime_sharded(name, &policy, cores).unwrap();
        let sharded_module = {
            let checked =
                cage::prepare(sharded_rt.as_ref(), &bytes, &host, &Invocation::Instantiate)
                    .unwrap();
            sharded_rt.compile_dyn(&checked, &host).unwrap()
        };
        let rate = |modules: &[&dyn DynModule]| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for m in modules {
                    s.spawn(|| requests(*m));
                }
            });
            (modules.len() * per_thread) as f64 / start.elapsed().as_secs_f64()
        };
        let (mut shared_x, mut sharded_x) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            let one = rate(&[shared.as_ref()]);
            let many = rate(&vec![shared.as_ref(); cores]);
            let sharded = rate(&vec![sharded_module.as_ref(); cores]);
            println!(
                "{name} round {round}: 1 thread {one:.0}/s; {cores} threads, one runtime {many:.0}/s ({:.2}×), sharded {sharded:.0}/s ({:.2}×)",
                many / one,
                sharded / one
            );
            shared_x.push(many / one);
            sharded_x.push(sharded / one);
        }
        println!(
            "{name}: {cores} threads ÷ 1, one runtime {}, sharded (a runtime per thread) {}",
            median_range(shared_x),
            median_range(sharded_x)
        );
    }
}
