//! What one guest thread costs the process, per runtime: mappings and address space of a
//! thread that has made a call (its stack and guard, and what the runtime sets up per thread
//! on first call: signal stacks, Wasmer's call stack), beyond what the sandbox itself holds.
//! Measured from /proc/self/maps with N threads parked inside a host call.
//!
//! `cargo run --release -p cage-bench --example thread_cost -- [N]`

use std::sync::{Arc, Barrier};

use cage::{FuncType, HostFunc, HostFunctions, Policy, Value};

/// The two barriers a parked thread waits on: inside the host call, then to leave it.
type Pair = (Arc<Barrier>, Arc<Barrier>);

fn maps() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut n = 0;
    let mut bytes = 0;
    for line in text.lines() {
        n += 1;
        if let Some((a, b)) = line
            .split_whitespace()
            .next()
            .and_then(|r| r.split_once('-'))
        {
            let (a, b) = (
                u64::from_str_radix(a, 16).unwrap_or(0),
                u64::from_str_radix(b, 16).unwrap_or(0),
            );
            bytes += b.saturating_sub(a);
        }
    }
    (n, bytes)
}

fn measure(
    n: usize,
    f: impl Fn(Arc<Barrier>, Arc<Barrier>) + Send + Sync + Clone + 'static,
) -> (f64, f64) {
    let inside = Arc::new(Barrier::new(n + 1));
    let out = Arc::new(Barrier::new(n + 1));
    let before = maps();
    let mut handles = Vec::new();
    for _ in 0..n {
        let (inside, out, f) = (inside.clone(), out.clone(), f.clone());
        handles.push(
            std::thread::Builder::new()
                .stack_size(512 * 1024 + 256 * 1024)
                .spawn(move || f(inside, out))
                .unwrap(),
        );
    }
    inside.wait();
    let during = maps();
    out.wait();
    for h in handles {
        h.join().unwrap();
    }
    (
        (during.0 - before.0) as f64 / n as f64,
        (during.1 - before.1) as f64 / n as f64,
    )
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let (m, b) = measure(n, |inside, out| {
        inside.wait();
        out.wait();
    });
    println!("plain thread: {m:.2} mappings, {:.0} KiB", b / 1024.0);
    let wasm = cage_core::module::to_binary(
        br#"(module (import "host" "park" (func $p)) (func (export "run") (call $p)))"#,
    )
    .unwrap();
    for name in cage::available_runtimes() {
        let barriers: Arc<std::sync::Mutex<Option<Pair>>> = Arc::default();
        let b2 = barriers.clone();
        let host = HostFunctions::new().with(HostFunc::new(
            "host",
            "park",
            FuncType::new([], []),
            move |_cx, _a| {
                let (i, o) = b2.lock().unwrap().clone().unwrap();
                i.wait();
                o.wait();
                Ok(Vec::<Value>::new())
            },
        ));
        let mut policy = Policy::default();
        policy.limits.max_instances = 100_000;
        let rt = cage::runtime_named(name, &policy).unwrap();
        let module: Arc<dyn cage::DynModule> = Arc::from(rt.compile(&wasm, &host).unwrap());
        // The sandboxes alone, made on this thread and kept.
        let before = maps();
        let mut kept = Vec::new();
        for _ in 0..n {
            let mut s = module.sandbox().unwrap();
            s.instantiate().unwrap();
            kept.push(s);
        }
        let after = maps();
        drop(kept);
        let sb = (
            (after.0 - before.0) as f64 / n as f64,
            (after.1 - before.1) as f64 / n as f64,
        );
        let m2 = module.clone();
        let bs = barriers.clone();
        let (m, b) = measure(n, move |inside, out| {
            *bs.lock().unwrap() = Some((inside, out));
            let mut s = m2.sandbox().unwrap();
            s.instantiate().unwrap();
            s.call("run", &[]).unwrap();
        });
        println!(
            "{name}: thread + sandbox + call: {m:.2} mappings, {:.0} KiB; sandbox alone {:.2} mappings, {:.0} KiB",
            b / 1024.0,
            sb.0,
            sb.1 / 1024.0
        );
    }
}
