//! `cage fuzz`: differential fuzzing for as long as asked. Every divergence is written out as a
//! reproducer: the module and a case file that `cage conformance` runs.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cage_conformance::fuzz::{SeedResult, run_seed};
use clap::Args;
use console::style;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::conformance::EXIT_FAILED;
use crate::fail;

#[derive(Args)]
pub(crate) struct FuzzArgs {
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Stop after this many seeds (whichever comes first).
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// First seed; the next ones follow. Default: from the clock (printed, so a run can be
    /// repeated).
    #[arg(long)]
    seed: Option<u64>,
    /// Compare these runtimes only (repeatable). Default: every runtime compiled in.
    #[arg(long = "runtime", value_name = "NAME")]
    runtimes: Vec<String>,
    /// Where reproducers of divergences are written.
    #[arg(long, value_name = "DIR", default_value = "fuzz-divergences")]
    out: PathBuf,
    /// Print one JSON object at the end instead of text.
    #[arg(long)]
    json: bool,
}

fn factory(
    name: cage::RuntimeName,
    policy: &cage::Policy,
) -> Result<Box<dyn cage::DynRuntime>, String> {
    cage::runtime_named(name, policy).map_err(|e| e.to_string())
}

pub(crate) fn main(a: FuzzArgs) -> ExitCode {
    let mut runtimes: Vec<cage::RuntimeName> = Vec::new();
    for name in &a.runtimes {
        match cage::runtime(name, &cage::Policy::default()) {
            Ok(rt) if !runtimes.contains(&rt.name()) => runtimes.push(rt.name()),
            Ok(_) => {}
            Err(e) => return fail(crate::runtime_error_status(&e), e),
        }
    }
    if runtimes.is_empty() {
        runtimes = cage::available_runtimes();
    }
    let first = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs().wrapping_mul(1_000_003))
    });
    // Printed first, on stderr, whatever the output: a run stopped by Ctrl-C can be repeated.
    eprintln!("cage fuzz: first seed {first} (repeat with --seed {first})");
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let bar = ProgressBar::new_spinner();
    if a.json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    } else if let Ok(s) = ProgressStyle::with_template("{spinner} {elapsed} {msg}") {
        bar.set_style(s);
    }
    let (mut modules, mut compared, mut steps, mut stack_limited) = (0u64, 0u64, 0u64, 0u64);
    let (mut with_imports, mut with_proposals, mut with_limits) = (0u64, 0u64, 0u64);
    let mut runtime_bugs: Vec<serde_json::Value> = Vec::new();
    let mut divergences: Vec<(u64, String, Option<PathBuf>)> = Vec::new();
    let mut seed = first;
    while Instant::now() < deadline && a.count.is_none_or(|c| seed.wrapping_sub(first) < c) {
        let r = run_seed(seed, &runtimes, &factory);
        if r.module.is_some() {
            modules += 1;
            let shape = cage_conformance::fuzz::Shape::of(seed);
            with_imports += u64::from(shape.imports);
            with_proposals += u64::from(!shape.proposals().is_empty());
            with_limits += u64::from(shape.limits);
        }
        for (rt, bug) in &r.runtime_bugs {
            runtime_bugs.push(json!({"seed": seed, "runtime": rt, "bug": bug}));
        }
        if r.traces.len() >= 2 {
            compared += 1;
            steps += r.traces[0].1.steps.len() as u64;
            stack_limited += u64::from(r.stack_limited_at.is_some());
        }
        if let Some(d) = &r.divergence {
            let written = write_reproducer(&a.out, &r).ok();
            if !a.json {
                bar.suspend(|| {
                    println!("{} seed {seed}: {d}", style("divergence").red().bold());
                });
            }
            divergences.push((seed, d.clone(), written));
        }
        bar.set_message(format!(
            "seed {seed}: {modules} modules, {compared} compared, {} divergences",
            divergences.len()
        ));
        bar.tick();
        seed = seed.wrapping_add(1);
    }
    bar.finish_and_clear();
    if a.json {
        let list: Vec<_> = divergences
            .iter()
            .map(|(s, d, p)| json!({"seed": s, "divergence": d, "reproducer": p}))
            .collect();
        println!(
            "{}",
            json!({
                "runtimes": runtimes,
                "first_seed": first,
                "seeds": seed.wrapping_sub(first),
                "modules": modules,
                "compared": compared,
                "steps": steps,
                "stack_limited": stack_limited,
                "with_imports": with_imports,
                "with_proposals": with_proposals,
                "with_limits": with_limits,
                "runtime_bugs": runtime_bugs,
                "divergences": list,
            })
        );
    } else {
        println!(
            "seeds {first}..{seed} on {}: {modules} modules generated, {compared} compared ({steps} steps; {stack_limited} compared only up to a stack overflow), {} divergences",
            runtimes
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            divergences.len()
        );
        println!(
            "  modules with host and WASI imports {with_imports}, with proposals beyond 2.0 \
             {with_proposals}, with tight limits {with_limits}; declared runtime bugs hit {}",
            runtime_bugs.len()
        );
        for (s, _, p) in &divergences {
            if let Some(p) = p {
                println!("  seed {s}: reproducer {}", p.display());
            }
        }
    }
    if divergences.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

/// Writes `seed-N.wasm` and `seed-N.toml`: a case whose `before` replays the calls before the
/// first diverging step and whose `expect` is the first runtime's outcome, to be corrected by
/// hand to what the spec says.
fn write_reproducer(dir: &std::path::Path, r: &SeedResult) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let wasm = dir.join(format!("seed-{}.wasm", r.seed));
    std::fs::write(&wasm, r.module.as_deref().unwrap_or_default())?;
    let (base, other) = match r.traces.as_slice() {
        [a, b, ..] => (&a.1, &b.1),
        _ => return Ok(wasm),
    };
    // Step 0 is instantiation; the others are calls, in order.
    let at = base
        .steps
        .iter()
        .zip(&other.steps)
        .position(|(x, y)| x.outcome != y.outcome || x.fuel != y.fuel)
        .unwrap_or(base.steps.len().saturating_sub(1));
    let (before, invoke): (Vec<String>, Option<String>) = if at == 0 {
        (Vec::new(), None)
    } else {
        (
            base.steps[1..at].iter().map(|s| s.what.clone()).collect(),
            Some(base.steps[at].what.clone()),
        )
    };
    let expect = base.steps[at].outcome.to_string();
    let shape = cage_conformance::fuzz::Shape::of(r.seed);
    let policy = cage_conformance::fuzz::fuzz_policy_for(r.seed, shape, None);
    let fuel = policy.limits.fuel.unwrap_or(1_000_000);
    let mut case = toml::Table::new();
    case.insert(
        "description".into(),
        format!(
            "cage fuzz seed {}: {}",
            r.seed,
            r.divergence.clone().unwrap_or_default()
        )
        .into(),
    );
    if let Some(i) = invoke {
        case.insert("invoke".into(), i.into());
    }
    if !before.is_empty() {
        case.insert("before".into(), before.into());
    }
    case.insert("expect".into(), expect.into());
    let mut doc = toml::Table::new();
    let mut limits = toml::Table::new();
    limits.insert(
        "fuel".into(),
        i64::try_from(fuel).unwrap_or(i64::MAX).into(),
    );
    limits.insert("timeout".into(), "10s".into());
    limits.insert("max_memories".into(), 4.into());
    if shape.limits {
        limits.insert(
            "max_memory".into(),
            i64::try_from(policy.limits.max_memory.bytes())
                .unwrap_or(i64::MAX)
                .into(),
        );
        limits.insert(
            "max_table_elements".into(),
            i64::try_from(policy.limits.max_table_elements)
                .unwrap_or(i64::MAX)
                .into(),
        );
        limits.insert("trap_on_grow_failure".into(), true.into());
    }
    doc.insert("limits".into(), limits.into());
    let proposals = shape.proposals();
    if !proposals.is_empty() {
        let mut features = toml::Table::new();
        for p in proposals {
            features.insert(p.name().into(), true.into());
        }
        doc.insert("features".into(), features.into());
    }
    doc.insert("case".into(), case.into());
    std::fs::write(
        wasm.with_extension("toml"),
        format!(
            "# Reproducer written by `cage fuzz`; `expect` is {}'s outcome: check it.\n{}",
            r.traces[0].0,
            toml::to_string(&doc).unwrap_or_default()
        ),
    )?;
    Ok(wasm)
}
