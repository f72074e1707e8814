//! `cage bench`: the comparative benchmarks of `cage-bench`, with a table, JSON and a chart:
//! the built-in kernels (no module, no `--suite`), or real WASI programs (`cage bench MODULE`,
//! `cage bench --suite DIR`, in `bench_programs.rs`).

#[path = "bench_programs.rs"]
mod programs;

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use cage_bench::report::{Machine, Results, Row};
use cage_bench::{Budget, Selection, all_targets, plan};
use clap::Args;

use crate::policy_args::{PolicyArgs, WasiArgs};
use crate::stubs::StubArgs;
use crate::{EXIT_CONFIG, EXIT_USAGE, fail};

/// Exit status when a case failed (set-up error or a wrong result).
const EXIT_FAILED: u8 = 1;

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Runtimes to measure (repeatable: `--runtime wasmtime --runtime wasmer`): wasmtime,
    /// wasmer-cranelift (or wasmer), wasmer-singlepass; each brings its raw-… twin. raw-… names
    /// and `native` may be named too. Default: every runtime compiled in, the raw twins and
    /// native.
    #[arg(long = "runtime", value_name = "NAME")]
    runtimes: Vec<String>,
    /// Only cases whose id contains SUBSTR (ids: compile/large, kernel/fib/fuel, …); with
    /// --suite, only programs whose name contains it.
    #[arg(long, value_name = "SUBSTR")]
    filter: Option<String>,
    /// Fewer, shorter samples: the whole kernel suite in well under 3 minutes on 2 cores
    /// (async/many-guests: batches of 1 000 guests instead of 10 000); for programs, 3
    /// iterations.
    #[arg(long)]
    quick: bool,
    /// Write the results as JSON to FILE (schema `cage-bench/1` for the kernels, `cage-bench/2`
    /// for programs; see docs/benchmarks.md).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write an SVG bar chart to FILE.
    #[arg(long, value_name = "FILE.svg")]
    chart: Option<PathBuf>,
    /// A runtime: the one ratios are computed against (default wasmtime). For programs it may
    /// also be a JSON file saved by an earlier `--json` run: the run is compared with it and
    /// significant regressions are flagged.
    #[arg(long, value_name = "NAME|OLD.json")]
    baseline: Option<String>,
    /// List the cases (or programs and targets) that would run, and exit.
    #[arg(long)]
    list: bool,
    /// A WASI program to benchmark on every runtime, Cage's and the raw runtimes' (.wasm or
    /// .wat); ARGS after `--` are its arguments.
    #[arg(conflicts_with = "suite")]
    module: Option<PathBuf>,
    /// Arguments of MODULE (argv[0] is its file name).
    #[arg(last = true, requires = "module")]
    args: Vec<String>,
    /// Benchmark every program of DIR, laid out as Sightglass lays out its benchmarks;
    /// `sightglass` names the vendored copy (bench/suites/sightglass).
    #[arg(long, value_name = "DIR|sightglass")]
    suite: Option<String>,
    #[command(flatten)]
    policy: Box<PolicyArgs>,
    #[command(flatten)]
    wasi: Box<WasiArgs>,
    /// Programs: the imports `cage bench` provides besides WASI are the Sightglass markers,
    /// `bench.start` and `bench.end` (free, they bracket the timed region), on every engine, so
    /// `--stub 'bench::*'` is accepted as `cage run` takes it; a stub for any other import is
    /// refused (the raw runtimes it compares with cannot be given stubs).
    #[command(flatten)]
    stubs: StubArgs,
    /// Programs: measured iterations per target (default 10; --quick: 3).
    #[arg(long, value_name = "N")]
    iterations: Option<usize>,
    /// Programs: iterations run first and not measured (default 1).
    #[arg(long, value_name = "N")]
    warmup: Option<usize>,
    /// Programs: configurations to run (plain, fuel, deadline, fuel+deadline; default all).
    #[arg(long = "config", value_name = "NAME", value_delimiter = ',')]
    configs: Vec<String>,
    /// Programs: phases to measure besides instantiate and execute (compile, compile-memory,
    /// compile-disk; default all). `--phase execute` measures no compile.
    #[arg(long = "phase", value_name = "NAME", value_delimiter = ',')]
    phases: Vec<String>,
    /// Programs of a suite: set WASM_BENCH_USE_SMALL_WORKLOAD=1 (Sightglass's small workloads).
    #[arg(long)]
    small: bool,
    /// Programs: print every program's targets and phases, not only the summaries.
    #[arg(long)]
    details: bool,
}

pub(crate) fn main(args: BenchArgs) -> ExitCode {
    if args.module.is_some() || args.suite.is_some() {
        return programs::main(args);
    }
    for (set, flag) in [
        (args.iterations.is_some(), "--iterations"),
        (args.warmup.is_some(), "--warmup"),
        (!args.configs.is_empty(), "--config"),
        (!args.phases.is_empty(), "--phase"),
        (args.small, "--small"),
        (args.details, "--details"),
        (!args.stubs.stubs.is_empty(), "--stub"),
    ] {
        if set {
            return fail(
                EXIT_USAGE,
                format!("{flag} is for programs: give a MODULE or --suite DIR"),
            );
        }
    }
    let baseline_arg = args
        .baseline
        .clone()
        .unwrap_or_else(|| "wasmtime".to_owned());
    let names: Vec<String> = all_targets().iter().map(|t| t.name()).collect();
    for r in args.runtimes.iter().chain([&baseline_arg]) {
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
    let baseline = if baseline_arg == "wasmer" {
        "wasmer-cranelift".to_owned()
    } else {
        baseline_arg.clone()
    };
    let cases = plan(&Selection {
        runtimes: args.runtimes.clone(),
        filter: args.filter.clone(),
        quick: args.quick,
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
            return fail(
                crate::EXIT_NOINPUT,
                format!("--json {}: cannot write: {e}", path.display()),
            );
        }
    }
    if let Some(path) = &args.chart
        && let Err(e) = std::fs::write(path, results.svg())
    {
        return fail(
            crate::EXIT_NOINPUT,
            format!("--chart {}: cannot write: {e}", path.display()),
        );
    }
    if results.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}
