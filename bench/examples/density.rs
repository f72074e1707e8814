//! How many live 1-page sandboxes (a memory with a data segment) one process holds before the
//! process budget refuses the next one: `density [RUNTIME] [MAX] [full|max_memory]`. Prints the count, why it
//! stopped, the time per sandbox and the resident memory.
use std::time::Instant;

use cage::{HostFunctions, Invocation, Policy, Value};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Memory mappings of this process now.
fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count())
}

fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "wasmtime".into());
    let max: usize = std::env::args()
        .nth(2)
        .map_or(200_000, |m| m.parse().unwrap());
    // `density RUNTIME MAX max_memory`: memories reserved at `max_memory` instead of 4 GiB.
    let reservation = match std::env::args().nth(3).as_deref() {
        Some("max_memory") => cage::policy::MemoryReservation::MaxMemory,
        _ => cage::policy::MemoryReservation::Full,
    };
    let mut policy = Policy::default()
        .with_max_memory(65_536)
        .with_timeout(None)
        .with_memory_reservation(reservation);
    policy.limits.max_instances = u32::try_from(max).unwrap_or(u32::MAX);
    let bytes = wat::parse_str(
        r#"(module (memory 1 1) (data (i32.const 0) "\2a")
            (func (export "get") (result i32) (i32.load8_u (i32.const 0))))"#,
    )
    .unwrap();
    let rt = cage::runtime(&name, &policy).unwrap();
    let host = HostFunctions::new();
    let checked = cage::prepare(rt.as_ref(), &bytes, &host, &Invocation::Instantiate).unwrap();
    let m = rt.compile_dyn(&checked, &host).unwrap();
    let start = Instant::now();
    let mut held = Vec::new();
    let stop = loop {
        if held.len() >= max {
            break "the count asked for".to_owned();
        }
        let mut sb = match m.sandbox() {
            Ok(sb) => sb,
            Err(e) => break format!("{e}"),
        };
        if let Err(e) = sb.instantiate() {
            break format!("instantiation: {e}");
        }
        held.push(sb);
    };
    let elapsed = start.elapsed();
    // The held sandboxes still work.
    let ok = held.iter_mut().step_by(997).all(|sb| {
        sb.call("get", &[])
            .map(|v| v == [Value::I32(42)])
            .unwrap_or(false)
    });
    println!(
        "{name}: {} live sandboxes ({:.1} µs each), stopped by: {stop}; held ones work: {ok}; \
         RSS {} MiB; {} mappings; budget {:?}, used {:?}",
        held.len(),
        elapsed.as_secs_f64() * 1e6 / held.len().max(1) as f64,
        rss_kib() / 1024,
        mappings(),
        cage::process_budget(),
        cage::process_usage(),
    );
}
