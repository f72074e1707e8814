//! The `async/many-guests` workload (issue 26; [`cage_bench::many_guests`]) with what
//! `cage bench` does not print: N concurrent guests (default 10 000), each computing for about
//! 1 ms, awaiting a host function that sleeps 10 ms, then computing again, on a 2-thread tokio
//! runtime, through the async API; compared with the sync API on `spawn_blocking`.
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
//! process budget), total time, the ideal ([`cage_bench::many_guests::ideal`]), their ratio, and
//! the process's peak RSS against the sum of the guests' memories. On Wasmtime the async guests
//! run on fibers polled by the two executor threads; on Wasmer each holds a guest thread while
//! in flight (`Capabilities::native_async`). Peak RSS is the process's high-water mark, so run
//! one runtime per process (`-- 10000 wasmtime --no-sync`) to read it for that runtime alone.

use std::time::Duration;

use cage::{Policy, RuntimeName};
use cage_bench::many_guests::{Api, Batch, ideal, policy};

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

fn row(label: &str, guests: usize, ok: usize, took: Duration) {
    // Guests refused by the process budget ended at once and count for nothing.
    let ideal = ideal(ok);
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
    let mut base = Policy::default().with_fuel(None);
    if rest.iter().any(|a| a == "--small-reservation") {
        base.limits.memory_reservation = cage::policy::MemoryReservation::MaxMemory;
    }
    let policy = policy(base, guests);
    let names: Vec<RuntimeName> = {
        let named: Vec<_> = rest.iter().filter_map(|a| a.parse().ok()).collect();
        if named.is_empty() {
            cage::available_runtimes()
        } else {
            named
        }
    };
    println!("{guests} guests, 2 executor threads, ~1 ms + 10 ms sleep + ~1 ms each");
    for name in names {
        let apis: &[Api] = if with_sync {
            &[Api::Async, Api::Blocking]
        } else {
            &[Api::Async]
        };
        for &api in apis {
            let batch = Batch::new(name, api, &policy).expect("set-up");
            println!(
                "{name}: calibrated {} loop iterations per 1 ms",
                batch.loops()
            );
            let (ok, first, took) = batch.run(guests);
            let label = match (api, batch.native()) {
                (Api::Async, true) => "async (fibers)",
                (Api::Async, false) => "async (threads)",
                (Api::Blocking, _) => "sync on spawn_blocking",
            };
            row(&format!("{name} {label}"), guests, ok, took);
            if let Some(e) = first {
                println!("  first refusal: {e}");
            }
        }
    }
}
