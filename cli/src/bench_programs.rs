//! `cage bench MODULE [-- ARGS]` and `cage bench --suite DIR|sightglass`: real WASI programs on
//! every runtime, Cage's and the raw runtimes' with their own WASI, verified, with a table,
//! JSON (`cage-bench/2`), a chart and a comparison with a saved run.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use cage::RuntimeName;
use cage_bench::programs::report::{Run, compare};
use cage_bench::programs::{
    Engine, Options, Phase, Program, SIGHTGLASS, all_engines, load_suite_matching, parse_config,
    run_program, sightglass_dir,
};
use cage_bench::report::Machine;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::BenchArgs;
use crate::stubs::StubArgs;
use crate::{ErrorKind, fail};

/// Exit status when a program failed verification.
const EXIT_FAILED: u8 = 1;

/// The engines `--runtime` names: a Cage runtime brings its raw twin; `raw-…` names one raw
/// engine.
fn engines(names: &[String]) -> Result<Vec<Engine>, String> {
    let all = all_engines();
    if names.is_empty() {
        return Ok(all);
    }
    let mut v = Vec::new();
    for n in names {
        let (raw, base) = match n.strip_prefix("raw-") {
            Some(b) => (true, b),
            None => (false, n.as_str()),
        };
        let rt: RuntimeName = base.parse().map_err(|e| format!("{e}"))?;
        let cage = Engine::Cage(rt);
        let twin = cage.twin();
        let wanted: Vec<Engine> = if raw {
            twin.into_iter().collect()
        } else {
            [Some(cage), twin].into_iter().flatten().collect()
        };
        for e in wanted {
            if !all.contains(&e) {
                return Err(format!(
                    "runtime `{}` is not compiled in; available: {}",
                    e.name(),
                    all.iter().map(|e| e.name()).collect::<Vec<_>>().join(", ")
                ));
            }
            if !v.contains(&e) {
                v.push(e);
            }
        }
    }
    // Report order: Cage's, then raw, each in the build's order.
    Ok(all.into_iter().filter(|e| v.contains(e)).collect())
}

fn options(a: &BenchArgs) -> Result<Options, String> {
    let mut o = if a.quick {
        Options::quick()
    } else {
        Options::full()
    };
    if let Some(n) = a.iterations {
        if n == 0 {
            return Err("--iterations 0: at least one".into());
        }
        o.iterations = n;
    }
    if let Some(n) = a.warmup {
        o.warmup = n;
    }
    if !a.configs.is_empty() {
        o.configs = a
            .configs
            .iter()
            .map(|c| parse_config(c))
            .collect::<Result<_, _>>()?;
        o.configs.dedup();
    }
    if !a.phases.is_empty() {
        o.phases = a
            .phases
            .iter()
            .map(|p| Phase::parse(p))
            .collect::<Result<_, _>>()?;
    }
    o.engines = engines(&a.runtimes)?;
    Ok(o)
}

/// Why no program could be benchmarked: the exit status, and the message starting with the
/// kind's word (`usage`, `filesystem`, `config`, `rejected`), as `cage run` words it.
type Failure = (u8, String);

/// A failure of `kind`.
fn failure(kind: ErrorKind, msg: impl std::fmt::Display) -> Failure {
    (kind.status(), format!("{}: {msg}", kind.name()))
}

/// The policy of the flags, as `cage run` builds it: a policy file that cannot be read, a
/// `--stdin` file or a directory that cannot be opened are `filesystem`; a malformed flag
/// `usage`; an invalid policy `config`.
fn flags_policy(a: &BenchArgs) -> Result<cage::Policy, Failure> {
    let mut policy = a
        .policy
        .policy()
        .map_err(|e| failure(crate::policy_error_kind(&e), e))?;
    a.wasi
        .apply_with_kind(&mut policy)
        .map_err(|(k, m)| failure(k, m))?;
    a.wasi
        .check_dirs(&policy, a.policy.policy.as_deref())
        .map_err(|m| failure(ErrorKind::Filesystem, m))?;
    Ok(policy)
}

/// The programs: MODULE with the policy of the flags (as `cage run`), or a suite's programs
/// with the policy of the flags, each with its folder preopened.
fn programs(a: &BenchArgs) -> Result<(String, Vec<Program>), Failure> {
    let usage = |e: String| failure(ErrorKind::Usage, e);
    let config = |e: String| failure(ErrorKind::Config, e);
    if let Some(module) = &a.module {
        let mut policy = flags_policy(a)?;
        policy.wasi.args = crate::run::wasi_argv(module, &a.args);
        policy.validate().map_err(|e| config(e.to_string()))?;
        // A module that cannot be read is the same failure as for `cage run`.
        if let Err(e) = std::fs::File::open(module) {
            return Err(failure(
                ErrorKind::Filesystem,
                format!("cannot read {}: {e}", module.display()),
            ));
        }
        // Readable, so refused: larger than `max_module_size`.
        let p = Program::module(module, policy)
            .map_err(|e| (crate::EXIT_REJECTED, format!("rejected: {e}")))?;
        check_stubs(&a.stubs, std::slice::from_ref(&p))?;
        return Ok((module.display().to_string(), vec![p]));
    }
    let suite = a.suite.as_deref().unwrap_or(SIGHTGLASS);
    let dir = if suite == SIGHTGLASS && !Path::new(suite).exists() {
        let d = sightglass_dir();
        if !d.is_dir() {
            return Err(failure(
                ErrorKind::Filesystem,
                format!(
                    "--suite sightglass: the vendored copy is not at {} (this binary was moved away \
                 from its source tree); pass --suite DIR with a copy of bench/suites/sightglass",
                    d.display()
                ),
            ));
        }
        d
    } else {
        PathBuf::from(suite)
    };
    if !dir.is_dir() {
        return Err(failure(
            ErrorKind::Filesystem,
            format!(
                "--suite {}: not a directory that can be read",
                dir.display()
            ),
        ));
    }
    let base = flags_policy(a)?;
    let list = load_suite_matching(&dir, &base, a.small, a.filter.as_deref()).map_err(usage)?;
    if list.is_empty() {
        return Err(usage("no program matches the filter".into()));
    }
    check_stubs(&a.stubs, &list)?;
    let source = if suite == SIGHTGLASS {
        SIGHTGLASS.to_owned()
    } else {
        dir.display().to_string()
    };
    Ok((source, list))
}

/// `--stub` for benchmarks: the Sightglass markers are always provided (timed, free), so a
/// pattern may cover them; a stub for any other import is refused, since the raw runtimes the
/// programs are compared on cannot be given one. Patterns that match no import of any program
/// are reported, as `cage run` reports them.
fn check_stubs(stubs: &StubArgs, programs: &[Program]) -> Result<(), Failure> {
    if stubs.stubs.is_empty() {
        return Ok(());
    }
    let mut used = vec![false; stubs.stubs.len()];
    for p in programs {
        let Ok(info) = cage::module::outline(&p.bytes) else {
            continue;
        };
        for (i, pattern) in stubs.stubs.iter().enumerate() {
            let s = crate::stubs::stub_functions(&info.imports, std::slice::from_ref(pattern), 0);
            used[i] |= !s.stubbed.is_empty();
            let other = info.imports.iter().find(|imp| {
                s.stubbed.contains(&format!("{}::{}", imp.module, imp.name))
                    && !matches!(&imp.ty, cage::module::ExternType::Func { ty }
                        if crate::stubs::is_sightglass_marker(&imp.module, &imp.name, ty))
            });
            if let Some(imp) = other {
                return Err(failure(
                    ErrorKind::Usage,
                    format!(
                        "--stub {pattern}: {} imports {}::{}; cage bench provides only WASI and \
                         the Sightglass markers bench::start and bench::end (the raw runtimes \
                         it compares with cannot be given stubs); `cage run --runtime all \
                         --stub {pattern}` compares it on Cage's runtimes",
                        p.name, imp.module, imp.name
                    ),
                ));
            }
        }
    }
    for (pattern, used) in stubs.stubs.iter().zip(used) {
        if !used {
            eprintln!("cage: --stub {pattern}: no program imports a function it matches");
        }
    }
    Ok(())
}

/// Prints a failure as `cage: KIND: MESSAGE` and returns its exit status.
fn fail_kind((code, msg): Failure) -> ExitCode {
    fail(code, msg)
}

pub(crate) fn main(mut a: BenchArgs) -> ExitCode {
    // A suite's programs are real programs: the `permissive` preset's limits (4 GiB memories,
    // 4 MiB stack) unless --preset or --policy says otherwise; the flags apply over it.
    if a.module.is_none() && a.policy.preset.is_none() && a.policy.policy.is_none() {
        a.policy.preset = Some("permissive".to_owned());
    }
    let opts = match options(&a) {
        Ok(o) => o,
        Err(e) => return fail_kind(failure(ErrorKind::Usage, e)),
    };
    // --baseline: a runtime to compare the others with, or a saved run.
    let (reference, saved) = match a.baseline.as_deref() {
        None => (RuntimeName::Wasmtime, None),
        Some(b) => match b.parse::<RuntimeName>() {
            Ok(rt) => (rt, None),
            Err(_) if Path::new(b).is_file() => (RuntimeName::Wasmtime, Some(PathBuf::from(b))),
            Err(_) => {
                return fail_kind(failure(
                    ErrorKind::Usage,
                    format!("--baseline {b}: neither a runtime nor a saved JSON run"),
                ));
            }
        },
    };
    let reference = if opts.engines.contains(&Engine::Cage(reference)) {
        reference
    } else {
        opts.engines
            .iter()
            .find_map(|e| match e {
                Engine::Cage(n) => Some(*n),
                _ => None,
            })
            .unwrap_or(reference)
    };
    let saved = match saved.map(|p| {
        std::fs::read_to_string(&p)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).map_err(|e| e.to_string()))
            .map(|v| (p, v))
    }) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => return fail_kind(failure(ErrorKind::Usage, format!("--baseline: {e}"))),
    };
    let (source, list) = match programs(&a) {
        Ok(p) => p,
        Err(f) => return fail_kind(f),
    };
    if a.list {
        for p in &list {
            for t in opts.targets() {
                println!("{} {}", p.name, t.id());
            }
        }
        return ExitCode::SUCCESS;
    }
    let per_program = (opts.warmup + opts.iterations) * opts.targets().len();
    let bar = ProgressBar::new((per_program * list.len()) as u64);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    } else if let Ok(s) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed_precise} (eta {eta}) {msg}")
    {
        bar.set_style(s);
    }
    let started = Instant::now();
    // The largest stack any program's policy asks for.
    let stack_policy = list
        .iter()
        .map(|p| &p.policy)
        .max_by_key(|p| p.limits.max_stack.bytes())
        .cloned()
        .unwrap_or_default();
    let log = !std::io::stderr().is_terminal();
    let results = cage::on_guest_thread(&stack_policy, || {
        list.iter()
            .map(|p| {
                let r = run_program(p, &opts, &mut |pr| {
                    bar.inc(1);
                    bar.set_message(format!(
                        "{} {}/{} {}",
                        pr.program,
                        pr.iteration,
                        pr.iterations,
                        pr.target.id()
                    ));
                });
                if log {
                    eprintln!(
                        "{} {}",
                        p.name,
                        r.failure
                            .as_deref()
                            .map_or_else(|| "verified".to_owned(), |f| format!("FAILED: {f}"))
                    );
                }
                r
            })
            .collect::<Vec<_>>()
    });
    bar.finish_and_clear();
    let results = match results {
        Ok(r) => r,
        Err(e) => return fail_kind(failure(ErrorKind::Host, e)),
    };
    eprintln!(
        "{} programs in {:.1} s",
        results.len(),
        started.elapsed().as_secs_f64()
    );
    let run = Run {
        machine: Machine::current(),
        source,
        options: opts,
        reference,
        programs: results,
    };
    print!("{}", run.table(a.details));
    let mut doc = run.json();
    if let Some((path, old)) = &saved {
        match compare(old, &doc) {
            Ok(c) => {
                let file = path.display().to_string();
                print!("{}", c.text(&file));
                doc["baseline_comparison"] = c.json(&file);
            }
            Err(e) => {
                return fail_kind(failure(
                    ErrorKind::Usage,
                    format!("--baseline {}: {e}", path.display()),
                ));
            }
        }
    }
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text + "\n") {
            return fail_kind(failure(
                ErrorKind::Filesystem,
                format!("--json {}: cannot write: {e}", path.display()),
            ));
        }
    }
    if let Some(path) = &a.chart
        && let Err(e) = std::fs::write(path, run.svg())
    {
        return fail_kind(failure(
            ErrorKind::Filesystem,
            format!("--chart {}: cannot write: {e}", path.display()),
        ));
    }
    if run.programs.iter().any(|p| p.failure.is_some()) {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}
