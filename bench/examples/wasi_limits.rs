//! Issue 21's "done when" figures, under the `default` preset on every runtime: what a hostile
//! WASI guest (bench/workloads/wasi_limits.wat) can make the host do before a limit answers.
//!
//! - `random_get` and `fd_read` of 1 GiB under 5 000 fuel (`ENOMEM`: past `max_io_per_call`),
//!   and of 60 MiB (under it: the call cannot pay, `out_of_fuel`): wall time of the call and the
//!   peak RSS it adds (the peak reset through `/proc/self/clear_refs` before the call, then
//!   `VmHWM` after less `VmRSS` before);
//! - one full `fd_readdir` pass, 64 bytes at a time, over 5 000, 10 000 and 20 000 entries:
//!   wall time and fuel, per entry, to show both are linear;
//! - files opened until `EMFILE` (the default `max_open_files`, 256);
//! - `path_open` of a FIFO (answers at once).
//!
//! Each figure is the median of `REPEATS` runs (fresh sandbox each) with the range.
//! `cargo run --release -p cage-bench --example wasi_limits [RUNTIME…]`
use std::path::Path;
use std::time::{Duration, Instant};

use cage::{DynModule, DynSandbox, HostFunctions, Invocation, Policy, RuntimeName, Trap, Value};

const GUEST: &str = include_str!("../workloads/wasi_limits.wat");
const REPEATS: usize = 7;
const GIB: i32 = 1 << 30;
const MIB60: i32 = 60 << 20;

/// A `/proc/self/status` field in KiB.
fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Resets the peak RSS (`VmHWM`) to the current RSS (Linux 4.0+); whether it could.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// What one call did: how it ended, its wall time, the peak RSS it added (KiB), its fuel.
struct Run {
    outcome: String,
    wall: Duration,
    rss_kib: u64,
    fuel: u64,
}

fn run(m: &dyn DynModule, export: &str, args: &[Value]) -> Run {
    let mut sb: Box<dyn DynSandbox> = m.sandbox().unwrap();
    sb.instantiate().unwrap();
    let before_fuel = sb.stats().fuel_consumed.unwrap_or(0);
    reset_peak();
    let rss = status_kib("VmRSS:");
    let start = Instant::now();
    let r = sb.call(export, args);
    let wall = start.elapsed();
    let rss_kib = status_kib("VmHWM:").saturating_sub(rss);
    let fuel = sb.stats().fuel_consumed.unwrap_or(0) - before_fuel;
    let outcome = match r {
        Ok(v) => match v[..] {
            [Value::I32(e)] => format!("errno {e}"),
            [Value::I64(x)] => format!("{x}"),
            ref other => format!("{other:?}"),
        },
        Err(e) if e.as_trap() == Some(Trap::OutOfFuel) => "trapped out_of_fuel".into(),
        Err(e) => format!("error: {e}"),
    };
    Run {
        outcome,
        wall,
        rss_kib,
        fuel,
    }
}

/// Median and range of `v`, formatted by `f`.
fn spread(mut v: Vec<f64>, f: impl Fn(f64) -> String) -> String {
    v.sort_by(f64::total_cmp);
    format!("{} ({}–{})", f(v[v.len() / 2]), f(v[0]), f(v[v.len() - 1]))
}

fn ms(x: f64) -> String {
    if x < 1.0 {
        format!("{x:.3} ms")
    } else {
        format!("{x:.1} ms")
    }
}

/// `REPEATS` runs of `export(args)`: the outcomes (all the same, or all listed), wall time and
/// RSS added.
fn measure(label: &str, m: &dyn DynModule, export: &str, args: &[Value]) -> Vec<Run> {
    let runs: Vec<Run> = (0..REPEATS).map(|_| run(m, export, args)).collect();
    let mut outcomes: Vec<&str> = runs.iter().map(|r| r.outcome.as_str()).collect();
    outcomes.dedup();
    println!(
        "  {label}: {}; wall {}; peak RSS added {}",
        outcomes.join(" | "),
        spread(
            runs.iter().map(|r| r.wall.as_secs_f64() * 1e3).collect(),
            ms
        ),
        spread(
            runs.iter().map(|r| r.rss_kib as f64 / 1024.0).collect(),
            |x| format!("{x:.1} MiB")
        ),
    );
    runs
}

fn module(name: RuntimeName, policy: &Policy) -> Box<dyn DynModule> {
    let bytes = wat::parse_str(GUEST).unwrap();
    let host = HostFunctions::new();
    let rt = cage::runtime_named(name, policy).unwrap();
    let checked = cage::prepare(rt.as_ref(), &bytes, &host, &Invocation::Instantiate).unwrap();
    rt.compile_dyn(&checked, &host).unwrap()
}

fn policy(dir: &Path, fuel: u64) -> Policy {
    let mut p = Policy::default().with_fuel(Some(fuel));
    p.wasi
        .dirs
        .push(cage::Dir::new(dir, "/data", cage::DirMode::Ro));
    p
}

fn main() {
    let names: Vec<RuntimeName> = match std::env::args().skip(1).collect::<Vec<_>>() {
        v if v.is_empty() => cage::available_runtimes(),
        v => v.iter().map(|n| n.parse().unwrap()).collect(),
    };
    if !reset_peak() {
        println!("(no /proc/self/clear_refs: RSS added is measured against the earlier peak)");
    }
    // The files every measurement reads, in one read-only preopen.
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("f"), b"abc").unwrap();
    std::fs::File::create(files.path().join("big.bin"))
        .unwrap()
        .set_len(MIB60 as u64)
        .unwrap();
    let fifo = std::process::Command::new("mkfifo")
        .arg(files.path().join("pipe"))
        .status()
        .is_ok_and(|s| s.success());
    // Directories of N empty files, for the readdir passes.
    let sizes = [5_000u32, 10_000, 20_000];
    let dirs: Vec<tempfile::TempDir> = sizes
        .iter()
        .map(|&n| {
            let d = tempfile::tempdir().unwrap();
            for i in 0..n {
                std::fs::File::create(d.path().join(format!("{i:05}"))).unwrap();
            }
            d
        })
        .collect();

    for name in names {
        println!("{name}:");
        let small = policy(files.path(), 5_000);
        cage::on_guest_thread(&small, || {
            let m = module(name, &small);
            measure(
                "random_get 1 GiB, 5 000 fuel",
                m.as_ref(),
                "rand",
                &[Value::I32(GIB)],
            );
            measure(
                "fd_read 1 GiB, 5 000 fuel",
                m.as_ref(),
                "read_file",
                &[Value::I32(GIB)],
            );
            measure(
                "random_get 60 MiB, 5 000 fuel",
                m.as_ref(),
                "rand",
                &[Value::I32(MIB60)],
            );
            measure(
                "fd_read 60 MiB, 5 000 fuel",
                m.as_ref(),
                "read_file",
                &[Value::I32(MIB60)],
            );
        })
        .unwrap();
        let metered = policy(files.path(), 1_000_000_000_000);
        cage::on_guest_thread(&metered, || {
            let m = module(name, &metered);
            measure(
                "open until EMFILE (1e6 * errno + opens)",
                m.as_ref(),
                "open_loop",
                &[],
            );
            if fifo {
                measure("path_open of a FIFO", m.as_ref(), "open_fifo", &[]);
            } else {
                println!("  path_open of a FIFO: no mkfifo on this host");
            }
        })
        .unwrap();
        for (n, dir) in sizes.iter().zip(&dirs) {
            let p = policy(dir.path(), 1_000_000_000_000);
            cage::on_guest_thread(&p, || {
                let m = module(name, &p);
                let runs = measure(
                    &format!("readdir pass over {n} entries (entries seen)"),
                    m.as_ref(),
                    "readdir_pass",
                    &[],
                );
                let per = f64::from(*n);
                println!(
                    "    per entry: wall {}, fuel {}",
                    spread(
                        runs.iter()
                            .map(|r| r.wall.as_secs_f64() * 1e6 / per)
                            .collect(),
                        |x| format!("{x:.2} µs")
                    ),
                    spread(
                        runs.iter().map(|r| r.fuel as f64 / per).collect(),
                        |x| format!("{x:.1}")
                    ),
                );
            })
            .unwrap();
        }
    }
}
