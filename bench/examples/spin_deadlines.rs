//! N guests (default 1 000) spinning under a 100 ms deadline at once, through the async API on
//! a 2-thread tokio runtime: every one must end `trapped: timeout`, none before its deadline;
//! prints the overshoot's median, p99 and maximum per runtime.
//!
//! `cargo run --release -p cage-bench --example spin_deadlines -- [N] [RUNTIME…]`
//!
//! On Wasmtime the guests run on fibers polled by the two executor threads, yielding every
//! `limits.yield_interval` (1 ms), and each call races its deadline; on Wasmer each guest has
//! a thread of its own (`Capabilities::native_async`). With `SPIN_WORST=1` in the environment
//! it also prints the 15 largest overshoots with each guest's index and start (ms after the
//! first).

use std::sync::Arc;
use std::time::{Duration, Instant};

use cage::{AsyncSandbox, DynModule, HostFunctions, Policy, Trap};

const DEADLINE: Duration = Duration::from_millis(100);

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let names: Vec<cage::RuntimeName> = {
        let named: Vec<_> = args.filter_map(|a| a.parse().ok()).collect();
        if named.is_empty() {
            cage::available_runtimes()
        } else {
            named
        }
    };
    let exec = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("tokio");
    let wasm = cage_core::module::to_binary(br#"(module (func (export "spin") (loop br 0)))"#)
        .expect("wat");
    for name in names {
        let mut policy = Policy::default()
            .with_fuel(None)
            .with_timeout(Some(DEADLINE));
        policy.limits.max_instances = 100_000;
        let rt = cage::runtime_named(name, &policy).expect("runtime");
        let module: Arc<dyn DynModule> =
            Arc::from(rt.compile(&wasm, &HostFunctions::new()).expect("compile"));
        let t0 = Instant::now();
        let results = exec.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..n {
                let module = module.clone();
                tasks.push(tokio::spawn(async move {
                    let mut sb = AsyncSandbox::new(module.as_ref()).await.ok()?;
                    sb.instantiate().await.ok()?;
                    let start = Instant::now();
                    let e = sb.call("spin", &[]).await.err()?;
                    Some((
                        e.as_trap(),
                        start.elapsed(),
                        (i, start.duration_since(t0).as_millis()),
                    ))
                }));
            }
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.ok().flatten());
            }
            out
        });
        let refused = results.iter().filter(|r| r.is_none()).count();
        let mut over: Vec<Duration> = Vec::new();
        let (mut early, mut other) = (0, 0);
        let mut worst: Vec<(Duration, (usize, u128))> = Vec::new();
        for (trap, took, i) in results.into_iter().flatten() {
            if took >= DEADLINE {
                worst.push((took - DEADLINE, i));
            }
            if trap != Some(Trap::Timeout) {
                other += 1;
            } else if took < DEADLINE {
                early += 1;
            } else {
                over.push(took - DEADLINE);
            }
        }
        over.sort();
        worst.sort();
        if std::env::var_os("SPIN_WORST").is_some() {
            println!("worst: {:?}", &worst[worst.len().saturating_sub(15)..]);
        }
        let q = |p: f64| {
            over.get(((over.len() as f64 - 1.0) * p) as usize)
                .copied()
                .unwrap_or_default()
        };
        println!(
            "{name}: {} stopped at their deadline, {early} early, {other} other, {refused} refused; overshoot p50 {:?} p99 {:?} max {:?}",
            over.len(),
            q(0.5),
            q(0.99),
            over.last().copied().unwrap_or_default()
        );
    }
}
