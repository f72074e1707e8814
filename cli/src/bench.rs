//! `cage bench`: the comparative benchmarks of `cage-bench`, with a table, JSON and a chart.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use cage_bench::report::{Machine, Results, Row};
use cage_bench::{Budget, Selection, all_targets, plan};
use clap::Args;

use crate::{EXIT_CONFIG, EXIT_USAGE, fail};

/// Exit status when a case failed (set-up error or a wrong result).
const EXIT_FAILED: u8 = 1;

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Runtimes to measure (repeatable): wasmtime, wasmer-cranelift (or wasmer),
    /// wasmer-singlepass; each brings its raw-… twin. raw-… names and `native` may be named too.
    /// Default: every runtime compiled in, the raw twins and native.
    #[arg(long = "runtime", value_name = "NAME", num_args = 1..)]
    runtimes: Vec<String>,
    /// Only cases whose id contains SUBSTR (ids: compile/large, kernel/fib/fuel, …).
    #[arg(long, value_name = "SUBSTR")]
    filter: Option<String>,
    /// Fewer, shorter samples: the whole suite in well under 3 minutes on 2 cores.
    #[arg(long)]
    quick: bool,
    /// Write the results as JSON (schema `cage-bench/1`, see docs/benchmarks.md) to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write an SVG bar chart to FILE.
    #[arg(long, value_name = "FILE.svg")]
    chart: Option<PathBuf>,
    /// The runtime ratios are computed against.
    #[arg(long, value_name = "NAME", default_value = "wasmtime")]
    baseline: String,
    /// List the cases that would run, and exit.
    #[arg(long)]
    list: bool,
}

pub(crate) fn main(args: BenchArgs) -> ExitCode {
    let names: Vec<String> = all_targets().iter().map(|t| t.name()).collect();
    for r in args.runtimes.iter().chain([&args.baseline]) {
        if r != "wasmer" && !names.contains(r) {
            let known = r.parse::<cage::RuntimeName>().is_ok()
                || r.strip_prefix("raw-")
                    .is_some_and(|n| n.parse::<cage::RuntimeName>().is_ok());
            let why = if known {
                "is not compiled in"
            } else {
                "is not a benchmark runtime"
            };
            return fail(
                EXIT_CONFIG,
                format!("runtime `{r}` {why}; available: {}", names.join(", ")),
            );
        }
    }
    let baseline = if args.baseline == "wasmer" {
        "wasmer-cranelift".to_owned()
    } else {
        args.baseline.clone()
    };
    let cases = plan(&Selection {
        runtimes: args.runtimes.clone(),
        filter: args.filter.clone(),
    });
    if cases.is_empty() {
        return fail(EXIT_USAGE, "no benchmark matches the runtimes and filter");
    }
    if args.list {
        for c in &cases {
            println!("{} {}", c.id(), c.target.name());
        }
        return ExitCode::SUCCESS;
    }
    let budget = if args.quick {
        Budget::quick()
    } else {
        Budget::full()
    };
    let started = Instant::now();
    let total = cases.len();
    // Progress on one rewritten line only for a person watching; a log gets nothing per case.
    let tty = std::io::stderr().is_terminal();
    // One thread for every case: Wasmer's stores stay on the thread that made them, and the
    // thread has room for the policy's guest stack.
    let (rows, errors) = match cage::on_guest_thread(&cage::Policy::default(), || {
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        for (i, case) in cases.into_iter().enumerate() {
            let (id, target) = (case.id(), case.target.name());
            if tty {
                eprint!("\r\x1b[K[{}/{total}] {id} on {target}", i + 1);
                let _ = std::io::stderr().flush();
            }
            match case.prepare(&mut |iter| cage_bench::measure(iter, &budget)) {
                Ok(Ok(summary)) => rows.push(Row { case, summary }),
                Ok(Err(e)) | Err(e) => errors.push((id, target, e)),
            }
        }
        (rows, errors)
    }) {
        Ok(r) => r,
        Err(e) => return fail(crate::EXIT_HOST, e),
    };
    eprintln!(
        "{}{total} cases in {:.1} s",
        if tty { "\r\x1b[K" } else { "" },
        started.elapsed().as_secs_f64()
    );
    let results = Results {
        machine: Machine::current(),
        quick: args.quick,
        baseline,
        rows,
        errors,
    };
    print!("{}", results.table());
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&results.json()).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text + "\n") {
            return fail(EXIT_FAILED, format!("cannot write {}: {e}", path.display()));
        }
    }
    if let Some(path) = &args.chart
        && let Err(e) = std::fs::write(path, results.svg())
    {
        return fail(EXIT_FAILED, format!("cannot write {}: {e}", path.display()));
    }
    if results.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}
