//! `cargo bench`: the workloads of `cage bench` under criterion, one benchmark per case
//! (`<case id>/<runtime>`, e.g. `kernel/fib/fuel/wasmer-cranelift`).
//!
//! Filter like any criterion suite: `cargo bench --bench runtimes -- kernel/fib/plain`. Set-up
//! (compiling, instantiating) happens once per case, outside the measurement.

use std::time::Duration;

use cage_bench::{Group, Selection, plan};
use criterion::Criterion;

/// Criterion's options that take a value (so that the value is not taken for the filter).
const VALUED: &[&str] = &[
    "-s",
    "--save-baseline",
    "-b",
    "--baseline",
    "--baseline-lenient",
    "--load-baseline",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--profile-time",
    "-c",
    "--color",
    "--format",
    "--output-format",
    "--plotting-backend",
];

/// Criterion's filter when it is a plain substring: cases that cannot match it are not even set
/// up (set-up compiles modules). A regular expression is left to criterion alone.
fn plain_filter() -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if VALUED.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            let plain = !a.contains(|c: char| "\\.^$*+?()[]{}|".contains(c));
            return plain.then_some(a);
        }
    }
    None
}

fn main() {
    let filter = plain_filter();
    // Batches of 1 000 concurrent guests for `async/many-guests`.
    let quick = Selection {
        quick: true,
        ..Selection::default()
    };
    let cases: Vec<_> = plan(&quick)
        .into_iter()
        .filter(|c| {
            let id = format!("{}/{}", c.id(), c.target.name());
            filter.as_deref().is_none_or(|f| id.contains(f))
        })
        .collect();
    // Wasmer's stores are not `Send`, and Wasmtime runs guests on the calling thread: everything
    // runs on one thread with room for the policy's guest stack.
    cage::on_guest_thread(&cage::Policy::default(), || {
        let mut c = Criterion::default()
            .sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .configure_from_args();
        for case in &cases {
            let mut group = c.benchmark_group(case.id());
            if matches!(case.workload.group, Group::Compile | Group::Async) {
                // A large module takes about a second per compile, a batch of guests as long.
                group.sample_size(10);
            }
            let prepared = case.prepare(&mut |iter| {
                group.bench_function(case.target.name(), |b| {
                    b.iter(|| iter().expect("a benchmark iteration failed"));
                });
            });
            group.finish();
            if let Err(e) = prepared {
                eprintln!("{}/{}: {e}", case.id(), case.target.name());
            }
        }
        c.final_summary();
    })
    .expect("a guest thread");
}
