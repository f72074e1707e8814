//! Runs one benchmark case in a loop for a few seconds, for a profiler:
//! `perf record -g target/release/examples/spin_case instantiate/trivial/plain wasmer-cranelift`.
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let (id, target) = (args.next().expect("case id"), args.next().expect("target"));
    let secs: u64 = args.next().map_or(5, |s| s.parse().expect("seconds"));
    let case = cage_bench::plan(&cage_bench::Selection::default())
        .into_iter()
        .find(|c| c.id() == id && c.target.name() == target)
        .expect("no such case");
    let n = case
        .prepare(&mut |iter| {
            let start = Instant::now();
            let mut n = 0u64;
            while start.elapsed() < Duration::from_secs(secs) {
                for _ in 0..1000 {
                    iter().unwrap();
                }
                n += 1000;
            }
            (n, start.elapsed())
        })
        .unwrap();
    println!(
        "{id} on {target}: {:.0} ns per iteration",
        n.1.as_nanos() as f64 / n.0 as f64
    );
}
