//! Measures what compiled modules hold on each runtime: memory mappings and file descriptors per
//! module (the `code_cost` each backend charges to the process budget is an upper bound of this).
//! `cargo run --release -p cage-bench --example code_cost -- [N]`.

use cage::{HostFunctions, Invocation, Policy};

fn count(path: &str) -> usize {
    match std::fs::read_to_string(path) {
        Ok(t) => t.lines().count(),
        Err(_) => std::fs::read_dir(path).map(|d| d.count()).unwrap_or(0),
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    for reservation in ["full", "max_memory"] {
        let policy = Policy::from_toml(&format!(
            "[limits]\nmemory_reservation = \"{reservation}\"\nmax_instances = 1000"
        ))
        .unwrap();
        for name in cage::available_runtimes() {
            let rt = cage::runtime_named(name, &policy).unwrap();
            let host = HostFunctions::new();
            let (maps0, fds0) = (count("/proc/self/maps"), count("/proc/self/fd"));
            let mut held = Vec::new();
            for i in 0..n {
                // Distinct modules (a constant differs), with a data segment and a few functions.
                let text = format!(
                    r#"(module (memory (export "memory") 1) (data (i32.const 16) "module {i}")
                       (func (export "get") (result i32) (i32.const {i}))
                       (func (export "sum") (param i32 i32) (result i32)
                         (i32.add (local.get 0) (local.get 1))))"#
                );
                let bytes = wat::parse_str(&text).unwrap();
                let checked =
                    cage::prepare(rt.as_ref(), &bytes, &host, &Invocation::Instantiate).unwrap();
                held.push(rt.compile_dyn(&checked, &host).unwrap());
            }
            rt.set_memory_cache_capacity(0);
            let (maps1, fds1) = (count("/proc/self/maps"), count("/proc/self/fd"));
            // One sandbox of each: what instantiating adds on top of the code.
            let mut sandboxes = Vec::new();
            for m in &held {
                let mut sb = m.sandbox().unwrap();
                sb.instantiate().unwrap();
                sandboxes.push(sb);
            }
            let (maps2, fds2) = (count("/proc/self/maps"), count("/proc/self/fd"));
            drop(sandboxes);
            drop(held);
            let (maps3, fds3) = (count("/proc/self/maps"), count("/proc/self/fd"));
            println!(
                "{name:<18} {reservation:<10} per module: {:.2} mappings {:.2} fds; per sandbox: {:.2} mappings {:.2} fds; after dropping all: {:+} mappings {:+} fds",
                (maps1 as f64 - maps0 as f64) / n as f64,
                (fds1 as f64 - fds0 as f64) / n as f64,
                (maps2 as f64 - maps1 as f64) / n as f64,
                (fds2 as f64 - fds1 as f64) / n as f64,
                maps3 as i64 - maps0 as i64,
                fds3 as i64 - fds0 as i64,
            );
        }
    }
}
