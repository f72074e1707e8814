//! `cage profile`: run a module under a measuring policy, observe what it uses on every runtime,
//! and recommend a policy (each limit the observed maximum times a headroom), then verify it.
//!
//! Decisions (also in docs/cli.md, "cage profile"):
//! - The measuring policy is the given policy (preset, file) with its limits replaced by high
//!   but finite ones ([`measuring_limits`]); limit flags (`--fuel`, `--timeout`, …) set the
//!   measuring limits instead, to bound profiling itself. Every proposal the module uses is
//!   allowed while measuring; the recommendation allows WebAssembly 2.0 and exactly the later
//!   proposals the module uses.
//! - Every run works in scratch copies of the read-write directories (unless `--in-place`), so
//!   runs start from the same files and the user's directories are not changed.
//! - A module the static check or the imports refuse is reported once, before any run. A run
//!   that does not complete (a trap, a rejection, a non-zero exit, truncated output, a
//!   measuring limit) is reported and no policy is recommended; so are runtimes that disagree.
//!   A runtime refused stops at its first refusal; one that declares it cannot run the module
//!   (`rejected: unsupported`) is left out and named.
//! - The smallest stack is found by bisection (8 KiB steps) per runtime: the smallest
//!   `max_stack` under which every input ends as it did with the measuring stack.
//! - Rounding makes values readable and only ever rounds up, by less than 10 % (two significant
//!   digits), so with the default headroom of 1.5 a guest needing twice the observed fuel or
//!   memory is stopped.
//!
//! Why one file over 800 lines: `cage profile` is one pipeline (plan, run per runtime,
//! summarise, recommend a policy), each stage a function over the previous one's records.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use cage::policy::{DirMode, MAX_STACK_RANGE};
use cage::{
    Features, HostFunctions, Invocation, Outcome, Policy, Proposal, Report, RuntimeName, Size,
    on_guest_thread,
};
use cage_bench::calibrate::Spread;
use clap::Args;
use serde::Serialize;
use serde_json::json;

use crate::policy_args::{PolicyArgs, WasiArgs};
use crate::scratch::Scratch;
use crate::stubs::StubArgs;
use crate::{EXIT_CONFIG, EXIT_REJECTED, EXIT_TRAPPED, EXIT_USAGE};

/// Default headroom: observed maximum × 1.5 (rounded up by less than 10 %).
const DEFAULT_HEADROOM: f64 = 1.5;
/// Bisection resolution for the stack.
const STACK_STEP: u64 = 8 * 1024;

#[derive(Args, Debug)]
pub(crate) struct ProfileArgs {
    /// Runtime to profile on (repeatable; default: every compiled-in runtime).
    #[arg(long = "runtime", value_name = "NAME")]
    runtimes: Vec<String>,
    /// The policy whose capabilities ([wasi], features) the module runs with; its limits are
    /// replaced by measuring limits. Limit flags set the measuring limits.
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    wasi: WasiArgs,
    #[command(flatten)]
    stubs: StubArgs,
    /// Run in the --dir directories themselves. By default every run works in its own scratch
    /// copy of each read-write directory, so runs start from the same files and the
    /// directories are left as they were.
    #[arg(long)]
    in_place: bool,
    /// Call this export; ARGS are parsed by its signature.
    #[arg(long, value_name = "EXPORT")]
    invoke: Option<String>,
    /// Runs of each input on each runtime.
    #[arg(long, value_name = "N", default_value_t = 3)]
    runs: u32,
    /// A workload to replay instead of ARGS: JSON Lines, one input per line
    /// (`{"args": ["…"], "stdin": "…", "invoke": "EXPORT"}`, every key optional).
    #[arg(long, value_name = "FILE")]
    inputs: Option<PathBuf>,
    /// Each limit is the observed maximum times this (at least 1).
    #[arg(long, value_name = "X", default_value_t = DEFAULT_HEADROOM)]
    headroom: f64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Write the recommended policy to FILE (TOML, every value commented).
    #[arg(long, value_name = "FILE")]
    write_policy: Option<PathBuf>,
    /// The module: .wasm or .wat.
    module: PathBuf,
    /// Arguments of the export (with --invoke), or of the WASI command.
    #[arg(last = true)]
    args: Vec<String>,
}

/// One input of the workload.
#[derive(Clone, Debug, Default, serde::Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Input {
    #[serde(default)]
    args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stdin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    invoke: Option<String>,
}

/// What one run showed.
#[derive(Clone, Debug, Serialize)]
struct Run {
    input: usize,
    outcome: String,
    fuel: Option<u64>,
    wall_ms: f64,
    compile_ms: f64,
    peak_memory_bytes: u64,
    peak_table_elements: u64,
    output_bytes: u64,
    stdout: String,
    #[serde(skip)]
    report: Report,
    #[serde(skip)]
    wasi: Option<cage::wasi::WasiUsage>,
}

/// Per runtime.
#[derive(Debug, Serialize)]
struct Profile {
    runtime: RuntimeName,
    fuel: Option<Spread<u64>>,
    wall_ms: Spread<f64>,
    compile_ms: Spread<f64>,
    peak_memory_bytes: Spread<u64>,
    peak_table_elements: Spread<u64>,
    output_bytes: Spread<u64>,
    min_stack_bytes: Option<u64>,
    runs: Vec<Run>,
}

/// The measuring limits: high, but finite, so that a runaway guest still ends.
fn measuring_limits(policy: &mut Policy) {
    let l = &mut policy.limits;
    l.fuel = Some(1_000_000_000_000);
    l.fuel_per_call = false;
    l.timeout = Some(Duration::from_secs(60));
    l.max_memory = Size::gib(4);
    l.max_table_elements = 10_000_000;
    l.max_stack = Size::mib(8);
    l.max_output = Size::mib(64);
    l.max_module_size = l.max_module_size.max(Size::mib(256));
    l.max_memories = l.max_memories.max(100);
    l.max_tables = l.max_tables.max(100);
}

pub(crate) fn main(a: ProfileArgs) -> ExitCode {
    match profile(&a) {
        Ok(code) => code,
        Err((code, msg)) => {
            // The words of `cage run`: the kind first (`usage`, `filesystem`, `config`,
            // `host`), then what happened.
            let kind = crate::ErrorKind::of_status(code).map(crate::ErrorKind::name);
            if a.json {
                println!(
                    "{}",
                    json!({ "error": kind, "message": msg, "recommended": null })
                );
            }
            match kind {
                Some(k) => crate::fail(code, format!("{k}: {msg}")),
                None => crate::fail(code, msg),
            }
        }
    }
}

type Failure = (u8, String);

fn usage(msg: impl Into<String>) -> Failure {
    (EXIT_USAGE, msg.into())
}

fn read_inputs(a: &ProfileArgs) -> Result<Vec<Input>, Failure> {
    let Some(path) = &a.inputs else {
        return Ok(vec![Input {
            args: a.args.clone(),
            stdin: None,
            invoke: None,
        }]);
    };
    if !a.args.is_empty() {
        return Err(usage(
            "--inputs and ARGS both given: put the arguments in the inputs file",
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        (
            crate::EXIT_NOINPUT,
            format!("--inputs {}: cannot read: {e}", path.display()),
        )
    })?;
    let mut inputs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let input: Input = serde_json::from_str(t)
            .map_err(|e| usage(format!("--inputs {} line {}: {e}", path.display(), n + 1)))?;
        inputs.push(input);
    }
    if inputs.is_empty() {
        return Err(usage(format!("--inputs {}: no inputs", path.display())));
    }
    Ok(inputs)
}

/// The policy and invocation of one input.
fn plan(
    a: &ProfileArgs,
    base: &Policy,
    info: Option<&cage::ModuleInfo>,
    input: &Input,
) -> Result<(Policy, Invocation), Failure> {
    let mut policy = base.clone();
    if let Some(s) = &input.stdin {
        policy.wasi.stdin = Some(s.clone().into_bytes());
    }
    let export = input.invoke.as_deref().or(a.invoke.as_deref());
    if export.is_none() && (!input.args.is_empty() || policy.wasi.args.is_empty()) {
        policy.wasi.args = crate::run::wasi_argv(&a.module, &input.args);
    }
    let invocation = crate::run::invocation(info, export, &input.args).map_err(|e| match e {
        crate::run::Plan::Usage(m) => usage(m),
        crate::run::Plan::Failed(e) => (EXIT_REJECTED, e.to_string()),
    })?;
    Ok((policy, invocation))
}

/// What every run of one profile shares: the module, its stubs and where it runs.
struct Subject<'a> {
    bytes: &'a [u8],
    host: &'a HostFunctions,
    /// Run in the directories themselves (`--in-place`) instead of scratch copies.
    in_place: bool,
}

/// Runs the module once on runtime `name` under `policy`, in scratch copies of its read-write
/// directories unless `--in-place`.
fn run_once(
    name: RuntimeName,
    policy: &Policy,
    subject: &Subject<'_>,
    invocation: &Invocation,
    input: usize,
) -> Result<Run, Failure> {
    let (policy, _scratch) = if subject.in_place {
        (policy.clone(), Scratch::default())
    } else {
        Scratch::for_policy(policy).map_err(|e| (crate::EXIT_NOINPUT, e))?
    };
    let policy = &policy;
    let runtime = cage::runtime_named(name, policy)
        .map_err(|e| (crate::runtime_error_status(&e), e.to_string()))?;
    let observed = on_guest_thread(policy, || {
        cage::run_observed(runtime.as_ref(), subject.bytes, subject.host, invocation)
    })
    .map_err(|e| (crate::EXIT_HOST, e.to_string()))?;
    let r = observed.report;
    Ok(Run {
        input,
        outcome: r.outcome().to_string(),
        fuel: r.fuel_consumed,
        wall_ms: r.wall_ms,
        compile_ms: r.compile_ms,
        peak_memory_bytes: r.peak_memory_bytes,
        peak_table_elements: r.peak_table_elements,
        output_bytes: (r.stdout.len() + r.stderr.len()) as u64,
        stdout: r.stdout.clone(),
        wasi: cage::wasi::usage(&observed.extensions),
        report: r,
    })
}

/// Whether a run completed: returned, or exited 0, with all its output kept.
fn completed(r: &Report) -> bool {
    matches!(r.outcome(), Outcome::Returned(_) | Outcome::Exited(0)) && !r.output_truncated
}

/// `x` rounded up to two significant digits (never down).
fn round_up(x: f64) -> u64 {
    if !x.is_finite() || x <= 0.0 {
        return 0;
    }
    if x < 100.0 {
        return x.ceil() as u64;
    }
    let mag = 10f64.powi(x.log10().floor() as i32 - 1);
    ((x / mag).ceil() * mag) as u64
}

/// A size rounded up to two significant digits of its largest unit with at least 10 of it.
fn round_size(bytes: f64) -> Size {
    for unit in [1u64 << 30, 1 << 20, 1 << 10] {
        let v = bytes / unit as f64;
        if v >= 10.0 {
            return Size(round_up(v).saturating_mul(unit));
        }
    }
    Size(round_up(bytes))
}

fn human_size(b: u64) -> String {
    match b {
        b if b >= 10 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 10 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn profile(a: &ProfileArgs) -> Result<ExitCode, Failure> {
    if !(a.headroom.is_finite() && a.headroom >= 1.0) {
        return Err(usage(format!(
            "--headroom {}: expected a number ≥ 1",
            a.headroom
        )));
    }
    if a.runs == 0 {
        return Err(usage("--runs 0: at least one run"));
    }
    let inputs = read_inputs(a)?;
    let policy_error =
        |e: cage::PolicyError| (crate::policy_error_kind(&e).status(), e.to_string());
    let (_, file_policy, _) = a.policy.layers().map_err(policy_error)?;
    // `--limit` keys count as the given policy's: what the profile does not measure (the
    // static code limits) keeps them in the recommendation.
    let mut base = a
        .policy
        .apply_limit_flags(file_policy)
        .map_err(policy_error)?;
    a.wasi
        .apply_with_kind(&mut base)
        .map_err(|(kind, m)| (kind.status(), m))?;
    a.wasi
        .check_dirs(&base, a.policy.policy.as_deref())
        .map_err(|m| (crate::EXIT_NOINPUT, m))?;
    base.validate().map_err(|e| (EXIT_CONFIG, e.to_string()))?;
    let mut measuring = base.clone();
    measuring_limits(&mut measuring);
    // `--limit` bounds the profiling runs too, like the limit flags below.
    let mut measuring = a
        .policy
        .apply_limit_flags(measuring)
        .map_err(policy_error)?;
    let l = &mut measuring.limits;
    // Limit flags bound the profiling runs themselves.
    if let Some(f) = a.policy.fuel {
        l.fuel = f.into_option();
    }
    if let Some(t) = a.policy.timeout {
        l.timeout = t.into_option();
    }
    if let Some(m) = a.policy.max_memory {
        l.max_memory = m;
    }
    if let Some(n) = a.policy.max_table_elements {
        l.max_table_elements = n;
    }
    if let Some(s) = a.policy.max_stack {
        l.max_stack = s;
    }
    let bytes = match cage::module::load(&a.module, measuring.limits.max_module_size.bytes()) {
        Ok(b) => b,
        Err(cage::Error::Host { message, .. }) => return Err((crate::EXIT_NOINPUT, message)),
        Err(e) => return Err((EXIT_REJECTED, e.to_string())),
    };
    let info = cage::module::outline(&bytes).ok();
    let used = cage::module::features_used(&bytes, &Features::ALL);
    if let Some(used) = &used {
        for p in used {
            measuring.features.set(*p, true);
        }
    }
    measuring
        .validate()
        .map_err(|e| (EXIT_CONFIG, e.to_string()))?;
    let names: Vec<RuntimeName> = if a.runtimes.is_empty() {
        cage::available_runtimes()
    } else {
        a.runtimes
            .iter()
            .map(|n| {
                n.parse()
                    .map_err(|e: cage::UnknownRuntime| (EXIT_CONFIG, e.to_string()))
            })
            .collect::<Result<_, _>>()?
    };
    let plans = inputs
        .iter()
        .map(|i| plan(a, &measuring, info.as_ref(), i))
        .collect::<Result<Vec<_>, _>>()?;

    let host = a.stubs.host_functions(info.as_ref(), &measuring.costs);
    let subject = Subject {
        bytes: &bytes,
        host: &host,
        in_place: a.in_place,
    };
    let mut profiles = Vec::new();
    let mut failures = Vec::new();
    let mut not_profiled = Vec::new();

    // 0. The static check and the imports, once: a module refused before any runtime sees it
    // is refused on every runtime at every run, so profiling stops at the first refusal.
    let refusal = cage::check(&bytes, &measuring)
        .and_then(|m| host.resolve(m.info(), &[cage::wasi::provider()]))
        .err();
    if let Some(e) = &refusal {
        let message = if e.as_rejection() == Some(cage::Rejection::LimitExceeded) {
            crate::run::static_limits_message(&a.policy, &a.module, &measuring)
                .or_else(|| e.message())
        } else {
            e.message()
        };
        failures.push(json!({
            "runtime": null,
            "input": null,
            "outcome": e.outcome().to_string(),
            "message": message,
            "output_truncated": false,
        }));
    }

    // 1. Runs.
    for &name in names.iter().filter(|_| refusal.is_none()) {
        let mut runs = Vec::new();
        'inputs: for (i, (policy, invocation)) in plans.iter().enumerate() {
            for _ in 0..a.runs {
                let run = run_once(name, policy, &subject, invocation, i)?;
                // A runtime that declares it cannot run the module is left out, as the
                // conformance matrix leaves it out; the others are profiled.
                if run.report.error == Some(cage::Rejection::Unsupported) {
                    not_profiled.push(json!({"runtime": name, "message": run.report.message}));
                    break 'inputs;
                }
                let rejected = run.report.error.is_some();
                if !completed(&run.report) {
                    failures.push(json!({
                        "runtime": name,
                        "input": i,
                        "outcome": run.outcome,
                        "message": run.report.message,
                        "output_truncated": run.report.output_truncated,
                    }));
                }
                runs.push(run);
                // A refusal repeats at every run: stop this runtime at the first.
                if rejected {
                    break 'inputs;
                }
            }
        }
        if runs.is_empty() {
            continue;
        }
        profiles.push(Profile {
            runtime: name,
            fuel: runs
                .iter()
                .map(|r| r.fuel)
                .collect::<Option<Vec<_>>>()
                .map(Spread::of),
            wall_ms: Spread::of(runs.iter().map(|r| r.wall_ms).collect()),
            compile_ms: Spread::of(runs.iter().map(|r| r.compile_ms).collect()),
            peak_memory_bytes: Spread::of(runs.iter().map(|r| r.peak_memory_bytes).collect()),
            peak_table_elements: Spread::of(runs.iter().map(|r| r.peak_table_elements).collect()),
            output_bytes: Spread::of(runs.iter().map(|r| r.output_bytes).collect()),
            min_stack_bytes: None,
            runs,
        });
    }
    // Runtimes must agree on each input's outcome and output.
    let mut disagreements = Vec::new();
    if let Some(first) = profiles.first() {
        for p in &profiles[1..] {
            for (x, y) in first.runs.iter().zip(&p.runs) {
                if x.outcome != y.outcome || x.stdout != y.stdout || x.fuel != y.fuel {
                    disagreements.push(json!({
                        "input": x.input,
                        "runtimes": [first.runtime, p.runtime],
                        "outcomes": [x.outcome, y.outcome],
                        "fuel": [x.fuel, y.fuel],
                        "same_stdout": x.stdout == y.stdout,
                    }));
                    break;
                }
            }
        }
    }
    if profiles.is_empty() && failures.is_empty() {
        failures.push(json!({
            "runtime": null,
            "input": null,
            "outcome": "rejected:unsupported",
            "message": "no runtime asked for can run this module",
            "output_truncated": false,
        }));
    }
    let ok = failures.is_empty() && disagreements.is_empty();

    // 2. Stack, by bisection, only when every run completed.
    if ok {
        for p in &mut profiles {
            p.min_stack_bytes = Some(min_stack(p.runtime, &plans, &subject, &p.runs)?);
        }
    }

    // 3. Recommendation and its verification.
    let recommended =
        ok.then(|| recommend(a, &base, &bytes, info.as_ref(), used.as_deref(), &profiles));
    let mut verification = None;
    if let Some(rec) = &recommended {
        verification = Some(verify(
            a,
            &rec.policy,
            &subject,
            info.as_ref(),
            &inputs,
            &profiles,
        )?);
    }
    let verified = verification.as_ref().is_some_and(|v| v.ok);
    if let (Some(rec), Some(path), true) = (&recommended, &a.write_policy, verified) {
        std::fs::write(path, &rec.toml).map_err(|e| {
            (
                crate::EXIT_NOINPUT,
                format!("--write-policy {}: cannot write: {e}", path.display()),
            )
        })?;
    }

    // 4. Report.
    let module = json!({
        "path": a.module.display().to_string(),
        "sha256": cage::module::module_hash(&bytes),
        "size": bytes.len(),
        "proposals": used.as_ref().map(|u| u.iter().map(|p| p.name()).collect::<Vec<_>>()),
        "imports": info.as_ref().map(|i| i.imports.iter().map(|m| format!("{}::{}", m.module, m.name)).collect::<Vec<_>>()),
        "memories": info.as_ref().map(|i| &i.memories),
        "tables": info.as_ref().map(|i| &i.tables),
    });
    if a.json {
        let v = json!({
            "module": module,
            "inputs": inputs,
            "runs_per_input": a.runs,
            "headroom": a.headroom,
            "runtimes": profiles,
            "failures": failures,
            "not_profiled": not_profiled,
            "disagreements": disagreements,
            "recommended": recommended.as_ref().map(|r| json!({
                "policy": r.policy,
                "toml": r.toml,
                "notes": r.notes,
            })),
            "verified": verification,
        });
        println!("{v}");
    } else {
        print_human(a, &module, &profiles, &failures, &disagreements);
        for n in &not_profiled {
            println!(
                "\n{}: not profiled: {}",
                n["runtime"].as_str().unwrap_or(""),
                n["message"].as_str().unwrap_or("it cannot run this module")
            );
        }
        if let Some(rec) = &recommended {
            match &a.write_policy {
                Some(path) if verified => {
                    println!("\nrecommended policy written to {}", path.display());
                }
                _ => println!(
                    "\nrecommended policy (headroom {}):\n\n{}",
                    a.headroom, rec.toml
                ),
            }
        }
        if let Some(v) = &verification {
            println!("{}", v.message);
        }
    }
    if !failures.is_empty() {
        // A module no runtime accepts is docs/cli.md's 65; any other failed run 70.
        let rejected = failures.iter().all(|f| {
            f["outcome"]
                .as_str()
                .is_some_and(|o| o.starts_with("rejected"))
        });
        return Ok(ExitCode::from(if rejected {
            EXIT_REJECTED
        } else {
            EXIT_TRAPPED
        }));
    }
    if !disagreements.is_empty() || !verified {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether a run ended as its reference did: same outcome and output.
fn same_end(r: &Report, reference: &Run) -> bool {
    r.outcome().to_string() == reference.outcome && r.stdout == reference.stdout
}

/// The smallest stack (8 KiB steps) under which every input ends as it did with the measuring
/// stack, on runtime `name`.
fn min_stack(
    name: RuntimeName,
    plans: &[(Policy, Invocation)],
    subject: &Subject<'_>,
    reference: &[Run],
) -> Result<u64, Failure> {
    let (lo_bound, _) = MAX_STACK_RANGE;
    let fits = |stack: u64| -> Result<bool, Failure> {
        for (i, (policy, invocation)) in plans.iter().enumerate() {
            let mut p = policy.clone();
            p.limits.max_stack = Size(stack);
            let run = run_once(name, &p, subject, invocation, i)?;
            let Some(reference) = reference.iter().find(|r| r.input == i) else {
                continue;
            };
            if !same_end(&run.report, reference) {
                return Ok(false);
            }
        }
        Ok(true)
    };
    let mut lo = lo_bound.bytes();
    let mut hi = plans
        .first()
        .map_or(Size::mib(8), |(p, _)| p.limits.max_stack)
        .bytes();
    if fits(lo)? {
        return Ok(lo);
    }
    // Invariant: `lo` does not fit, `hi` does.
    while hi - lo > STACK_STEP {
        let mid = lo + (hi - lo) / 2;
        if fits(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

/// A recommended policy, its commented TOML and a note per key.
struct Recommendation {
    policy: Policy,
    toml: String,
    notes: BTreeMap<String, String>,
}

fn recommend(
    a: &ProfileArgs,
    base: &Policy,
    bytes: &[u8],
    info: Option<&cage::ModuleInfo>,
    used: Option<&[Proposal]>,
    profiles: &[Profile],
) -> Recommendation {
    let h = a.headroom;
    let mut p = base.clone();
    let mut notes = BTreeMap::new();
    let mut note = |key: &str, text: String| {
        notes.insert(key.to_owned(), text);
    };
    // Fuel: identical on every runtime.
    let fuel_max = profiles.iter().filter_map(|p| p.fuel.map(|f| f.max)).max();
    if let Some(f) = fuel_max {
        p.limits.fuel = Some(round_up(f as f64 * h).max(1));
        note(
            "limits.fuel",
            format!("observed: {f} at most (identical on every runtime) × {h}"),
        );
    } else {
        note(
            "limits.fuel",
            "not measured (profiled without metering): the given policy's value".into(),
        );
    }
    // Wall time: the slowest runtime.
    if let Some(slow) = profiles
        .iter()
        .max_by(|x, y| x.wall_ms.max.total_cmp(&y.wall_ms.max))
    {
        let ms = (slow.wall_ms.max * h).max(100.0);
        p.limits.timeout = Some(Duration::from_millis(round_up(ms)));
        note(
            "limits.timeout",
            format!(
                "observed: {:.2} ms at most on {} (the slowest; median {:.2} ms) × {h}, at \
                 least 100 ms. Wall time depends on the machine: fuel is the portable bound",
                slow.wall_ms.max, slow.runtime, slow.wall_ms.median
            ),
        );
    }
    let mem = profiles
        .iter()
        .map(|p| p.peak_memory_bytes.max)
        .max()
        .unwrap_or(0);
    p.limits.max_memory = round_size((mem as f64 * h).max(65_536.0));
    note(
        "limits.max_memory",
        format!(
            "observed: peak linear memory {mem} bytes ({}) × {h}, at least one page",
            human_size(mem)
        ),
    );
    let tables = profiles
        .iter()
        .map(|p| p.peak_table_elements.max)
        .max()
        .unwrap_or(0);
    p.limits.max_table_elements = round_up(tables as f64 * h);
    note(
        "limits.max_table_elements",
        format!("observed: largest table {tables} elements × {h}"),
    );
    let (stack_lo, stack_hi) = MAX_STACK_RANGE;
    if let Some((name, stack)) = profiles
        .iter()
        .filter_map(|p| p.min_stack_bytes.map(|s| (p.runtime, s)))
        .max_by_key(|(_, s)| *s)
    {
        let want = ((stack as f64 * h) as u64).div_ceil(16 * 1024) * 16 * 1024;
        p.limits.max_stack = Size(want.clamp(stack_lo.bytes(), stack_hi.bytes()));
        let per: Vec<String> = profiles
            .iter()
            .filter_map(|p| {
                p.min_stack_bytes
                    .map(|s| format!("{} {}", p.runtime, human_size(s)))
            })
            .collect();
        note(
            "limits.max_stack",
            format!(
                "observed: the smallest stack that completes is {} on {name} ({}) × {h}, in \
                 16 KiB steps",
                human_size(stack),
                per.join(", ")
            ),
        );
    }
    let out = profiles
        .iter()
        .map(|p| p.output_bytes.max)
        .max()
        .unwrap_or(0);
    p.limits.max_output = round_size(out as f64 * h).max(Size::kib(4));
    note(
        "limits.max_output",
        format!("observed: {out} bytes of stdout and stderr × {h}, at least 4 KiB"),
    );
    p.limits.max_module_size = round_size(bytes.len() as f64 * h);
    note(
        "limits.max_module_size",
        format!("this module: {} bytes × {h}", bytes.len()),
    );
    if let Some(i) = info {
        p.limits.max_memories = i.memories.len() as u32;
        p.limits.max_tables = i.tables.len() as u32;
        note(
            "limits.max_memories",
            format!("this module declares {}", i.memories.len()),
        );
        note(
            "limits.max_tables",
            format!("this module declares {}", i.tables.len()),
        );
    }
    // WebAssembly 2.0 stays allowed (a toolchain may start to use any of it on the next
    // build); later proposals only when the module uses them.
    if let Some(used) = used {
        let mut f = Features::WASM2;
        for u in used {
            f.set(*u, true);
        }
        p.features = f;
    }
    // WASI: only the directories reached, read-only unless changed; the environment only if
    // read.
    let usage: Vec<&cage::wasi::WasiUsage> = profiles
        .iter()
        .flat_map(|p| p.runs.iter().filter_map(|r| r.wasi.as_ref()))
        .collect();
    if !usage.is_empty() {
        let dirs = std::mem::take(&mut p.wasi.dirs);
        for (i, mut d) in dirs.into_iter().enumerate() {
            let reached = usage
                .iter()
                .any(|u| u.dirs.get(i).is_some_and(|x| x.reached));
            let changed = usage
                .iter()
                .any(|u| u.dirs.get(i).is_some_and(|x| x.changed));
            if !reached {
                continue;
            }
            if !changed {
                d.mode = DirMode::Ro;
            }
            if let Ok(abs) = std::fs::canonicalize(&d.host) {
                d.host = abs;
            }
            p.wasi.dirs.push(d);
        }
        if !usage.iter().any(|u| u.environ) {
            p.wasi.env.clear();
        }
    }
    let toml = render(a, &p, bytes, profiles, &notes, &usage);
    Recommendation {
        policy: p,
        toml,
        notes,
    }
}

fn render(
    a: &ProfileArgs,
    p: &Policy,
    bytes: &[u8],
    profiles: &[Profile],
    notes: &BTreeMap<String, String>,
    usage: &[&cage::wasi::WasiUsage],
) -> String {
    let runtimes: Vec<String> = profiles.iter().map(|p| p.runtime.to_string()).collect();
    let mut header = format!(
        "# Cage policy recommended by `cage profile` for {} (sha256 {}),\n\
         # from {} run(s) of each input on {}: each limit is the observed maximum × {}\n\
         # (rounded up), [features] is WebAssembly 2.0 plus the later proposals the module uses.\n",
        Path::new(&a.module).display(),
        &cage::module::module_hash(bytes)[..16],
        a.runs,
        runtimes.join(", "),
        a.headroom,
    );
    if !usage.is_empty() {
        let environ = usage.iter().any(|u| u.environ);
        header.push_str(&format!(
            "# WASI: the guest {} its environment (preview 1 hands over all of it: the keys \
             kept are the ones given); it {} a clock and {} random bytes. Only the directories \
             it reached are kept, read-only unless it changed something under them.\n",
            if environ { "read" } else { "never read" },
            if usage.iter().any(|u| u.clock) {
                "read"
            } else {
                "never read"
            },
            if usage.iter().any(|u| u.random) {
                "asked for"
            } else {
                "never asked for"
            },
        ));
    }
    let note = |section: &str, key: &str| notes.get(&format!("{section}.{key}")).cloned();
    crate::policy_cmd::annotated_toml(p, &header, &note)
}

/// The verification: every input re-run under the recommended policy on every runtime ends as
/// it did while measuring.
#[derive(Debug, Serialize)]
struct Verification {
    ok: bool,
    runtimes: Vec<RuntimeName>,
    message: String,
    mismatches: Vec<serde_json::Value>,
}

fn verify(
    a: &ProfileArgs,
    rec: &Policy,
    subject: &Subject<'_>,
    info: Option<&cage::ModuleInfo>,
    inputs: &[Input],
    profiles: &[Profile],
) -> Result<Verification, Failure> {
    let mut mismatches = Vec::new();
    for p in profiles {
        for (i, input) in inputs.iter().enumerate() {
            let (policy, invocation) = plan(a, rec, info, input)?;
            let run = run_once(p.runtime, &policy, subject, &invocation, i)?;
            let Some(reference) = p.runs.iter().find(|r| r.input == i) else {
                continue;
            };
            if !same_end(&run.report, reference) || run.fuel != reference.fuel {
                mismatches.push(json!({
                    "runtime": p.runtime,
                    "input": i,
                    "expected": reference.outcome,
                    "got": run.outcome,
                    "message": run.report.message,
                }));
            }
        }
    }
    let runtimes: Vec<RuntimeName> = profiles.iter().map(|p| p.runtime).collect();
    let names: Vec<String> = runtimes.iter().map(ToString::to_string).collect();
    let ok = mismatches.is_empty();
    let message = if ok {
        format!(
            "verified: every input completes identically under the recommended policy on {}",
            names.join(", ")
        )
    } else {
        format!(
            "NOT verified: {} run(s) under the recommended policy ended differently (see \
             --json); the policy was not written",
            mismatches.len()
        )
    };
    Ok(Verification {
        ok,
        runtimes,
        message,
        mismatches,
    })
}

fn print_human(
    a: &ProfileArgs,
    module: &serde_json::Value,
    profiles: &[Profile],
    failures: &[serde_json::Value],
    disagreements: &[serde_json::Value],
) {
    println!(
        "cage profile: {} ({} bytes, sha256 {}), {} run(s) of each input",
        a.module.display(),
        module["size"],
        module["sha256"].as_str().map_or("", |s| &s[..16]),
        a.runs
    );
    if let Some(p) = module["proposals"].as_array() {
        let names: Vec<&str> = p.iter().filter_map(|v| v.as_str()).collect();
        println!(
            "proposals used: {}",
            if names.is_empty() {
                "none beyond MVP".to_owned()
            } else {
                names.join(", ")
            }
        );
    }
    let count = |k: &str| module[k].as_array().map_or(0, Vec::len);
    let wasi = module["imports"].as_array().map_or(0, |v| {
        v.iter()
            .filter(|i| {
                i.as_str()
                    .is_some_and(|s| s.starts_with("wasi_snapshot_preview1::"))
            })
            .count()
    });
    println!(
        "imports: {} ({wasi} from WASI preview 1); memories declared: {}; tables declared: {}",
        count("imports"),
        count("memories"),
        count("tables")
    );
    println!();
    println!(
        "{:<18} {:>23} {:>19} {:>12} {:>7} {:>10} {:>10} {:>10}",
        "runtime",
        "fuel median / max",
        "wall ms median/max",
        "peak memory",
        "table",
        "min stack",
        "output",
        "compile ms"
    );
    for p in profiles {
        let fuel = p
            .fuel
            .map_or_else(|| "-".to_owned(), |f| format!("{} / {}", f.median, f.max));
        println!(
            "{:<18} {:>23} {:>19} {:>12} {:>7} {:>10} {:>10} {:>10.1}",
            p.runtime.to_string(),
            fuel,
            format!("{:.2} / {:.2}", p.wall_ms.median, p.wall_ms.max),
            human_size(p.peak_memory_bytes.max),
            p.peak_table_elements.max,
            p.min_stack_bytes.map_or_else(|| "-".to_owned(), human_size),
            human_size(p.output_bytes.max),
            p.compile_ms.median,
        );
    }
    for f in failures {
        match f["runtime"].as_str() {
            Some(rt) => println!(
                "\nnot completed: {rt} input {}: {} {}",
                f["input"],
                f["outcome"].as_str().unwrap_or(""),
                f["message"].as_str().unwrap_or("")
            ),
            None => println!(
                "\nrefused before any run, on every runtime: {} {}",
                f["outcome"].as_str().unwrap_or(""),
                f["message"].as_str().unwrap_or("")
            ),
        }
    }
    if !failures.is_empty() {
        println!(
            "\nno policy recommended: a run that traps, exits non-zero, is rejected or hits a \
             measuring limit is not a baseline"
        );
    }
    for d in disagreements {
        println!("\nruntimes disagree: {d}");
    }
    if !disagreements.is_empty() {
        println!("\nno policy recommended: the runtimes disagree (a Cage bug: please report it)");
    }
}
