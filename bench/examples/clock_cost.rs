//! Measures what a clock read and a few atomics cost on this machine.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

fn main() {
    let n = 10_000_000u32;
    let t = Instant::now();
    let mut x = 0u128;
    for _ in 0..n {
        x = x.wrapping_add(std::hint::black_box(Instant::now()).elapsed().as_nanos());
    }
    println!(
        "Instant::now + elapsed: {:.1} ns ({x})",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let a = AtomicU64::new(0);
    let t = Instant::now();
    for _ in 0..n {
        a.fetch_add(1, Ordering::AcqRel);
        a.fetch_sub(1, Ordering::AcqRel);
    }
    println!(
        "two atomic RMWs: {:.1} ns",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}
