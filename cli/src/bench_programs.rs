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
    Engine, Options, Phase, Program, SIGHTGLASS, all_engines, load_suite, parse_config,
    run_program, sightglass_dir,
};
use cage_bench::report::Machine;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::BenchArgs;
use crate::{EXIT_CONFIG, EXIT_USAGE, fail};

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

/// The programs: MODULE with the policy of the flags (as `cage run`), or a suite's programs
/// with the policy of the flags, each with its folder preopened.
fn programs(a: &BenchArgs) -> Result<(String, Vec<Program>), (u8, String)> {
    let usage = |e: String| (EXIT_USAGE, e);
    let config = |e: String| (EXIT_CONFIG, e);
    if let Some(module) = &a.module {
        let mut policy = a.policy.policy().map_err(|e| config(e.to_string()))?;
        a.wasi.apply(&mut policy).map_err(usage)?;
        policy.wasi.args = crate::run::wasi_argv(module, &a.args);
        policy.validate().map_err(|e| config(e.to_string()))?;
        let p = Program::module(module, policy).map_err(|e| (crate::EXIT_REJECTED, e))?;
        return Ok((module.display().to_string(), vec![p]));
    }
    let suite = a.suite.as_deref().unwrap_or(SIGHTGLASS);
    let dir = if suite == SIGHTGLASS && !Path::new(suite).exists() {
        let d = sightglass_dir();
        if !d.is_dir() {
            return Err(usage(format!(
                "--suite sightglass: the vendored copy is not at {} (this binary was moved away \
                 from its source tree); pass --suite DIR with a copy of bench/suites/sightglass",
                d.display()
            )));
        }
        d
    } else {
        PathBuf::from(suite)
    };
    let mut base = a.policy.policy().map_err(|e| config(e.to_string()))?;
    a.wasi.apply(&mut base).map_err(usage)?;
    let mut list = load_suite(&dir, &base, a.small).map_err(usage)?;
    if let Some(f) = &a.filter {
        list.retain(|p| p.name.contains(f.as_str()));
    }
    if list.is_empty() {
        return Err(usage("no program matches the filter".into()));
    }
    let source = if suite == SIGHTGLASS {
        SIGHTGLASS.to_owned()
    } else {
        dir.display().to_string()
    };
    Ok((source, list))
}

pub(crate) fn main(mut a: BenchArgs) -> ExitCode {
    // A suite's programs are real programs: the `permissive` preset's limits (4 GiB memories,
    // 4 MiB stack) unless --preset or --policy says otherwise; the flags apply over it.
    if a.module.is_none() && a.policy.preset.is_none() && a.policy.policy.is_none() {
        a.policy.preset = Some("permissive".to_owned());
    }
    let opts = match options(&a) {
        Ok(o) => o,
        Err(e) => return fail(EXIT_USAGE, e),
    };
    // --baseline: a runtime to compare the others with, or a saved run.
    let (reference, saved) = match a.baseline.as_deref() {
        None => (RuntimeName::Wasmtime, None),
        Some(b) => match b.parse::<RuntimeName>() {
            Ok(rt) => (rt, None),
            Err(_) if Path::new(b).is_file() => (RuntimeName::Wasmtime, Some(PathBuf::from(b))),
            Err(_) => {
                return fail(
                    EXIT_USAGE,
                    format!("--baseline {b}: neither a runtime nor a saved JSON run"),
                );
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
        Some(Err(e)) => return fail(EXIT_USAGE, format!("--baseline: {e}")),
    };
    let (source, list) = match programs(&a) {
        Ok(p) => p,
        Err((code, e)) => return fail(code, e),
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
        Err(e) => return fail(crate::EXIT_HOST, e),
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
            Err(e) => return fail(EXIT_USAGE, format!("--baseline {}: {e}", path.display())),
        }
    }
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text + "\n") {
            return fail(EXIT_FAILED, format!("cannot write {}: {e}", path.display()));
        }
    }
    if let Some(path) = &a.chart
        && let Err(e) = std::fs::write(path, run.svg())
    {
        return fail(EXIT_FAILED, format!("cannot write {}: {e}", path.display()));
    }
    if run.programs.iter().any(|p| p.failure.is_some()) {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}
