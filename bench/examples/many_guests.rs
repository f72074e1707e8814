//! The `async/many-guests` workload (issue 26): N concurrent guests (default 10 000), each
//! computing for about 1 ms, awaiting a host function that sleeps 10 ms, then computing again,
//! on a 2-thread tokio runtime, through the async API (`AsyncSandbox`, `HostFunc::new_async`);
//! compared with the sync API on `spawn_blocking` (the host function sleeps its thread).
//!
//! `cargo run --release -p cage-bench --example many_guests -- [N] [RUNTIME…] [--no-sync]
//! [--small-reservation]`
//!
//! `--small-reservation` sets `limits.memory_reservation = "max_memory"` (two mappings per
//! memory instead of three): with the default `full`, 10 000 Wasmtime guests charge 5 mappings
//! each (memory and fiber stack), past the process budget's 49 147 (three quarters of
//! `vm.max_map_count`), and every refused reservation re-reads `/proc/self/maps` before it is
//! final, which is what slows that run down.
//!
//! Prints, per runtime and API: guests completed (the rest were refused `limit_exceeded` by the
//! process budget), total time, the ideal (compute ÷ 2 threads + 10 ms), their ratio, and the
//! process's peak RSS against the sum of the guests' memories. On Wasmtime the async guests run
//! on fibers polled by the two executor threads; on Wasmer each holds a guest thread while in
//! flight (`Capabilities::native_async`). Peak RSS is the process's high-water mark, so run one
//! runtime per process (`-- 10000 wasmtime --no-sync`) to read it for that runtime alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cage::async_api::{Finish, HostFuture};
use cage::{
    AsyncSandbox, DynModule, FuncType, HostContext, HostError, HostFunc, HostFunctions, Policy,
    RuntimeName, Value,
};

/// `work(n)`: burns `n` loop iterations, calls `host.wait()`, burns `n` again.
const GUEST: &str = r#"(module
  (import "host" "wait" (func $wait))
  (memory (export "memory") 1)
  (func $burn (param $n i32)
    (loop $l (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n))))
  (func (export "work") (param $n i32)
    (call $burn (local.get $n))
    (call $wait)
    (call $burn (local.get $n))))"#;

const SLEEP: Duration = Duration::from_millis(10);

fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// `--small-reservation`: `limits.memory_reservation = "max_memory"`.
static SMALL_RESERVATION: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn compile(name: RuntimeName, host: &HostFunctions) -> Arc<dyn DynModule> {
    let policy = Policy::default()
        .with_fuel(None)
        .with_timeout(Some(Duration::from_secs(120)));
    let mut policy = policy;
    policy.limits.max_instances = 1_000_000;
    if SMALL_RESERVATION.load(std::sync::atomic::Ordering::Relaxed) {
        policy.limits.memory_reservation = cage::policy::MemoryReservation::MaxMemory;
    }
    let rt = cage::runtime_named(name, &policy).expect("runtime");
    let wasm = cage_core::module::to_binary(GUEST.as_bytes()).expect("wat");
    Arc::from(rt.compile(&wasm, host).expect("compile"))
}

/// Loop iterations that take about 1 ms on this runtime, measured on one warm guest whose
/// `wait` returns at once (so that no sleep's overshoot counts as compute): the median of 11
/// calls, scaled.
fn calibrate(module: &Arc<dyn DynModule>) -> i32 {
    let mut sb = module.sandbox().expect("sandbox");
    sb.instantiate().expect("instantiate");
    let mut n: i32 = 100_000;
    let per_call = |sb: &mut Box<dyn cage::DynSandbox>, n: i32| {
        let mut times: Vec<Duration> = (0..11)
            .map(|_| {
                let start = Instant::now();
                let _ = sb.call("work", &[Value::I32(n)]);
                start.elapsed() / 2
            })
            .collect();
        times.sort();
        times[5]
    };
    loop {
        let t = per_call(&mut sb, n);
        if t >= Duration::from_millis(2) || n > 1 << 28 {
            let scale = 1000.0 / t.as_micros().max(1) as f64;
            let n = (f64::from(n) * scale) as i32;
            println!(
                "calibrated: {n} iterations, {:?} per phase",
                per_call(&mut sb, n)
            );
            return n;
        }
        n = n.saturating_mul(4);
    }
}

fn row(label: &str, guests: usize, ok: usize, took: Duration, compute: Duration) {
    // Two compute phases per guest on two threads: `compute` per completed guest, plus one
    // sleep (guests refused by the process budget ended at once and count for nothing).
    let ideal = compute * (ok as u32) + SLEEP;
    let rss = peak_rss_bytes();
    let memories = guests as u64 * 65536;
    println!(
        "{label:<32} {ok:>6}/{guests:<6} {:>9.0} ms  ideal {:>7.0} ms  ×{:.2}  peak RSS {:>6} MiB ({:.2}× the guests' memories)",
        took.as_secs_f64() * 1e3,
        ideal.as_secs_f64() * 1e3,
        took.as_secs_f64() / ideal.as_secs_f64(),
        rss >> 20,
        rss as f64 / memories as f64,
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let guests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rest: Vec<String> = args.collect();
    let with_sync = !rest.iter().any(|a| a == "--no-sync");
    if rest.iter().any(|a| a == "--small-reservation") {
        SMALL_RESERVATION.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let names: Vec<RuntimeName> = {
        let named: Vec<_> = rest.iter().filter_map(|a| a.parse().ok()).collect();
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
    let wait_async = HostFunc::new_async(
        "host",
        "wait",
        FuncType::new([], []),
        |_cx: &mut dyn HostContext, _args: &[Value]| -> Result<HostFuture, HostError> {
            Ok(Box::pin(async {
                tokio::time::sleep(SLEEP).await;
                let finish: Finish = Box::new(|_cx: &mut dyn HostContext| Ok(Vec::new()));
                Ok(finish)
            }))
        },
    );
    let wait_sync = HostFunc::new("host", "wait", FuncType::new([], []), |_cx, _args| {
        std::thread::sleep(SLEEP);
        Ok(Vec::new())
    });
    println!("{guests} guests, 2 executor threads, ~1 ms + 10 ms sleep + ~1 ms each");
    for name in names {
        // Async API.
        let module = compile(name, &HostFunctions::new().with(wait_async.clone()));
        let wait_nop = HostFunc::new("host", "wait", FuncType::new([], []), |_cx, _args| {
            Ok(Vec::new())
        });
        let n = calibrate(&compile(name, &HostFunctions::new().with(wait_nop)));
        let start = Instant::now();
        let ok = exec.block_on(async {
            let mut tasks = Vec::with_capacity(guests);
            for _ in 0..guests {
                let module = module.clone();
                tasks.push(tokio::spawn(async move {
                    let mut sb = AsyncSandbox::new(module.as_ref()).await?;
                    sb.instantiate().await?;
                    sb.call("work", &[Value::I32(n)]).await
                }));
            }
            let mut ok = 0;
            for t in tasks {
                if matches!(t.await, Ok(Ok(_))) {
                    ok += 1;
                }
            }
            ok
        });
        let label = if module.native_async_sandbox().is_some() {
            "async (fibers)"
        } else {
            "async (threads)"
        };
        row(
            &format!("{name} {label}"),
            guests,
            ok,
            start.elapsed(),
            Duration::from_millis(1),
        );
        if !with_sync {
            continue;
        }
        // Sync API on spawn_blocking.
        let module = compile(name, &HostFunctions::new().with(wait_sync.clone()));
        let start = Instant::now();
        let ok = exec.block_on(async {
            let mut tasks = Vec::with_capacity(guests);
            for _ in 0..guests {
                let module = module.clone();
                tasks.push(tokio::task::spawn_blocking(move || {
                    let mut sb = module.sandbox()?;
                    sb.instantiate()?;
                    sb.call("work", &[Value::I32(n)])
                }));
            }
            let mut ok = 0;
            for t in tasks {
                if matches!(t.await, Ok(Ok(_))) {
                    ok += 1;
                }
            }
            ok
        });
        row(
            &format!("{name} sync on spawn_blocking"),
            guests,
            ok,
            start.elapsed(),
            Duration::from_millis(1),
        );
    }
}
