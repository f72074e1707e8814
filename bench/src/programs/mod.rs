//! Benchmarks of real WASI programs: `cage bench MODULE [-- ARGS]` and `cage bench --suite DIR`
//! (Sightglass's layout; `--suite sightglass` is the vendored copy).
//!
//! Every program runs on every [`Engine`]: Cage's runtimes in each configuration
//! ([`Limits`]: `plain`, `fuel`, `deadline`, `fuel+deadline`), and the same runtimes driven
//! directly with their own WASI (`raw-wasmtime` with `wasmtime-wasi`'s preview 1,
//! `raw-wasmer-…` with `wasmer-wasix`; in the `fuel` configuration raw Wasmtime with its own
//! fuel and raw Wasmer with the stock `wasmer-middlewares` `Metering`). Each iteration of each
//! target compiles (cold, from the memory cache, from the disk cache), instantiates and runs the
//! program, and is verified before its times count: exit code, stdout and stderr against the
//! expected files (or, without them, against the first runtime), `fuel_consumed` identical
//! across runtimes. The iterations of the targets are interleaved (iteration 1 of every target,
//! then iteration 2, …), so that a machine whose speed drifts affects every target alike.
//!
//! The execution phase is the region between the program's `bench.start` and `bench.end`
//! calls (Sightglass's protocol: both are host functions that cost no fuel), or the whole
//! `_start` call when the program does not import them.
//!
//! ```no_run
//! use cage_bench::programs::{Options, load_suite, run_program, sightglass_dir};
//! let programs = load_suite(&sightglass_dir(), &cage::Preset::Permissive.policy(), false).unwrap();
//! let noop = programs.iter().find(|p| p.name == "noop").unwrap();
//! let result = run_program(noop, &Options::smoke(), &mut |_| {});
//! assert!(result.failure.is_none());
//! ```

mod cage_exec;
mod raw_wasmer;
mod raw_wasmtime;
pub mod report;
pub mod stats;
pub mod suite;

use std::collections::BTreeMap;
use std::time::Instant;

use cage::{HostContext, HostError, HostFunctions, RuntimeName};

pub use stats::{Comparison, Phase as PhaseStats};
pub use suite::{Expected, Program, SIGHTGLASS, load_suite, load_suite_matching, sightglass_dir};

use crate::Limits;
use crate::calibrate::Spread;

/// The Sightglass marker imports: module `bench`, functions `start` and `end`, `[] -> []`.
pub const MARKER_MODULE: &str = "bench";

/// What runs a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Engine {
    /// A Cage runtime, with Cage's WASI.
    Cage(RuntimeName),
    /// Wasmtime through its own API with `wasmtime-wasi`'s preview 1 (`raw-wasmtime`).
    RawWasmtime,
    /// Wasmer with Cranelift (`raw-wasmer-cranelift`) or Singlepass (`raw-wasmer-singlepass`)
    /// through its own API with `wasmer-wasix`.
    RawWasmer(RuntimeName),
}

impl Engine {
    /// `wasmtime`, `raw-wasmtime`, `raw-wasmer-cranelift`, …
    pub fn name(self) -> String {
        match self {
            Engine::Cage(n) => n.to_string(),
            Engine::RawWasmtime => "raw-wasmtime".to_owned(),
            Engine::RawWasmer(n) => format!("raw-{n}"),
        }
    }

    /// `cage` or `raw`.
    pub fn kind(self) -> &'static str {
        match self {
            Engine::Cage(_) => "cage",
            _ => "raw",
        }
    }

    /// The Cage runtime this engine is or mirrors.
    pub fn runtime(self) -> RuntimeName {
        match self {
            Engine::Cage(n) | Engine::RawWasmer(n) => n,
            Engine::RawWasmtime => RuntimeName::Wasmtime,
        }
    }

    /// A Cage engine's raw twin.
    pub fn twin(self) -> Option<Engine> {
        match self {
            Engine::Cage(RuntimeName::Wasmtime) => Some(Engine::RawWasmtime),
            Engine::Cage(n) => Some(Engine::RawWasmer(n)),
            _ => None,
        }
    }

    /// The configurations this engine runs in: every one for Cage; `plain` and `fuel` for the
    /// raw engines (their fuel: Wasmtime's own, Wasmer's stock `Metering` middleware).
    pub fn runs(self, limits: Limits) -> bool {
        self.kind() == "cage" || !limits.deadline
    }

    /// What the engine is, for people (one line per engine in reports).
    pub fn about(self) -> &'static str {
        match self {
            Engine::Cage(_) => "Cage with its own WASI",
            Engine::RawWasmtime => {
                "Wasmtime 48.0.8 with wasmtime-wasi 48.0.8 preview 1; fuel: Wasmtime's consume_fuel"
            }
            Engine::RawWasmer(_) => {
                "Wasmer 7.3.0 with wasmer-wasix 0.703.0; fuel: wasmer-middlewares 7.3.0 Metering (1 per operator)"
            }
        }
    }
}

/// Every engine of this build: Cage's runtimes, then their raw twins.
pub fn all_engines() -> Vec<Engine> {
    let cage = cage::available_runtimes();
    let mut v: Vec<Engine> = cage.iter().map(|n| Engine::Cage(*n)).collect();
    v.extend(cage.iter().filter_map(|n| Engine::Cage(*n).twin()));
    v
}

/// A phase of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Validation and compilation with no cache (Cage: `prepare` + `compile`, memory cache off;
    /// raw: `Module::new`).
    Compile,
    /// The same module compiled again by the same runtime: its memory cache answers (Cage only).
    CompileMemory,
    /// Compiled by a runtime whose memory cache is off and whose disk cache has the module:
    /// read, authenticate, load (Cage only; what a new `cage run --cache` process does).
    CompileDisk,
    /// A new sandbox with its WASI context (preopens opened) and instantiation.
    Instantiate,
    /// Between `bench.start` and `bench.end`, or the whole `_start` without them.
    Execute,
}

impl Phase {
    /// Every phase, in report order.
    pub const ALL: [Phase; 5] = [
        Phase::Compile,
        Phase::CompileMemory,
        Phase::CompileDisk,
        Phase::Instantiate,
        Phase::Execute,
    ];

    /// `compile`, `compile-memory`, `compile-disk`, `instantiate`, `execute`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Compile => "compile",
            Phase::CompileMemory => "compile-memory",
            Phase::CompileDisk => "compile-disk",
            Phase::Instantiate => "instantiate",
            Phase::Execute => "execute",
        }
    }

    /// Parses a name of [`Phase::name`].
    ///
    /// # Errors
    /// An unknown name, with the known ones.
    pub fn parse(s: &str) -> Result<Phase, String> {
        Phase::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown phase `{s}`: expected {}",
                    Phase::ALL.map(Phase::name).join(", ")
                )
            })
    }

    /// Why a raw engine has no such phase, if it has none.
    pub fn raw_gap(self) -> Option<&'static str> {
        match self {
            Phase::CompileMemory => {
                Some("the raw runtimes keep no compiled-module cache in memory")
            }
            Phase::CompileDisk => Some(
                "the raw runtimes' own deserialisation is unsafe to feed from disk (Cage authenticates first)",
            ),
            _ => None,
        }
    }
}

/// Parses a configuration name: `plain`, `fuel`, `deadline`, `fuel+deadline`.
///
/// # Errors
/// An unknown name.
pub fn parse_config(s: &str) -> Result<Limits, String> {
    Limits::ALL
        .into_iter()
        .find(|l| l.name() == s)
        .ok_or_else(|| {
            format!("unknown configuration `{s}`: expected plain, fuel, deadline or fuel+deadline")
        })
}

/// One engine in one configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    /// What runs.
    pub engine: Engine,
    /// Which limits are on.
    pub limits: Limits,
}

impl Target {
    /// `wasmtime/fuel`, `raw-wasmtime/plain`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.engine.name(), self.limits.name())
    }
}

/// How to run the programs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Measured iterations per target.
    pub iterations: usize,
    /// Iterations run first and not measured (verified all the same).
    pub warmup: usize,
    /// Phases measured. Instantiation and execution happen in every iteration (the output is
    /// verified every time); the compile phases are skipped unless named.
    pub phases: Vec<Phase>,
    /// Configurations.
    pub configs: Vec<Limits>,
    /// Engines.
    pub engines: Vec<Engine>,
}

impl Options {
    /// `cage bench MODULE` / `--suite`: 10 iterations after one warm-up, every phase,
    /// configuration and engine.
    pub fn full() -> Options {
        Options {
            iterations: 10,
            warmup: 1,
            phases: Phase::ALL.to_vec(),
            configs: Limits::ALL.to_vec(),
            engines: all_engines(),
        }
    }

    /// `--quick`: 3 iterations after one warm-up.
    pub fn quick() -> Options {
        Options {
            iterations: 3,
            ..Options::full()
        }
    }

    /// Tests: one iteration, no warm-up, every configuration and engine.
    pub fn smoke() -> Options {
        Options {
            iterations: 1,
            warmup: 0,
            ..Options::full()
        }
    }

    /// The targets, Cage's first, each engine in the configurations it runs.
    pub fn targets(&self) -> Vec<Target> {
        let mut v = Vec::new();
        for kind in ["cage", "raw"] {
            for &limits in &self.configs {
                for &engine in &self.engines {
                    if engine.kind() == kind && engine.runs(limits) {
                        v.push(Target { engine, limits });
                    }
                }
            }
        }
        v
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `proc_exit(n)`, or `_start` returned (0).
    Code(i32),
    /// A trap or another failure, described.
    Failed(String),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit {c}"),
            Exit::Failed(m) => write!(f, "{m}"),
        }
    }
}

/// What one iteration measured and produced.
#[derive(Clone, Debug)]
pub(crate) struct Iteration {
    /// Nanoseconds per measured phase.
    pub(crate) times: BTreeMap<Phase, f64>,
    pub(crate) exit: Exit,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    /// Fuel of the whole run (metered Cage targets).
    pub(crate) fuel: Option<u64>,
    /// Fuel between the markers (metered targets with markers).
    pub(crate) region_fuel: Option<u64>,
    /// Whether both markers were called.
    pub(crate) marked: bool,
}

/// A target set up for a program: runs one iteration at a time.
pub(crate) trait Runner {
    /// Runs one iteration, measuring `phases` (instantiate and execute always run).
    fn iterate(&mut self, phases: &[Phase]) -> Result<Iteration, String>;
}

/// Why a target did not run a program: a capability it lacks (`n/a`), not a failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SetupError {
    /// The runtime cannot run this program (a proposal it does not support, a WASI layout
    /// it cannot give): reported `n/a` with the reason.
    Unsupported(String),
    /// Set-up failed: for a Cage target the program fails; for a raw one it is `n/a`.
    Failed(String),
}

/// The markers' record in one sandbox: when each was called and the fuel left then. Insert one
/// in a sandbox's extensions before the call for [`marker_functions`] to fill.
#[derive(Clone, Copy, Debug, Default)]
pub struct Markers {
    pub(crate) start: Option<(Instant, Option<u64>)>,
    pub(crate) end: Option<(Instant, Option<u64>)>,
}

impl Markers {
    /// The region's time and fuel, when both markers were called in order.
    pub(crate) fn region(&self) -> Option<(f64, Option<u64>)> {
        let ((t0, f0), (t1, f1)) = (self.start?, self.end?);
        let fuel = f0.zip(f1).map(|(a, b)| a.saturating_sub(b));
        Some((t1.saturating_duration_since(t0).as_nanos() as f64, fuel))
    }
}

/// `bench.start` and `bench.end` as Cage host functions: they cost no fuel and record the time
/// (and the fuel left) in the sandbox's [`Markers`] (inserted before the call).
pub fn marker_functions() -> HostFunctions {
    HostFunctions::new()
        .with(cage::host_fn(
            MARKER_MODULE,
            "start",
            |cx: &mut dyn HostContext| -> Result<(), HostError> {
                let fuel = cx.fuel_remaining();
                if let Some(m) = cx.data::<Markers>() {
                    m.start = Some((Instant::now(), fuel));
                }
                Ok(())
            },
        ))
        .with(cage::host_fn(
            MARKER_MODULE,
            "end",
            |cx: &mut dyn HostContext| -> Result<(), HostError> {
                let now = Instant::now();
                let fuel = cx.fuel_remaining();
                if let Some(m) = cx.data::<Markers>() {
                    m.end = Some((now, fuel));
                }
                Ok(())
            },
        ))
}

/// Whether a module imports Sightglass's markers.
pub fn imports_markers(bytes: &[u8]) -> bool {
    cage::module::outline(bytes).is_ok_and(|i| {
        i.imports
            .iter()
            .any(|im| im.module == MARKER_MODULE && im.name == "start")
    })
}

/// One target's result on one program.
#[derive(Clone, Debug)]
pub struct TargetResult {
    /// The target.
    pub target: Target,
    /// `Ok` when every iteration ran and was verified; otherwise why not.
    pub status: Status,
    /// Each measured phase's samples (empty unless `status` is `Ok`).
    pub phases: BTreeMap<Phase, PhaseStats>,
    /// How the runs ended (the same in every iteration when `Ok`).
    pub exit: Option<Exit>,
    /// `fuel_consumed` of the whole run (metered Cage targets).
    pub fuel: Option<u64>,
    /// Fuel consumed between the markers (metered Cage targets of a program with markers).
    pub region_fuel: Option<u64>,
    /// Nanoseconds per fuel unit over the measured iterations: the execution phase's time over
    /// the fuel consumed in it, per iteration (as `cage calibrate` computes it per call).
    pub ns_per_fuel: Option<Spread>,
}

/// A target's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Ran and verified.
    Ok,
    /// Cannot run this program (a capability it lacks): `n/a` with the reason.
    NotApplicable(String),
    /// Ran and was wrong, or could not run: the reason.
    Failed(String),
}

/// One program's result.
#[derive(Clone, Debug)]
pub struct ProgramResult {
    /// The program's name.
    pub name: String,
    /// Its file.
    pub wasm: std::path::PathBuf,
    /// SHA-256 of the module.
    pub sha256: String,
    /// Whether it imports `bench.start`/`bench.end`.
    pub markers: bool,
    /// `None` when every Cage target that could run it was verified; otherwise why the
    /// benchmark failed (then no number of it is reported).
    pub failure: Option<String>,
    /// Per target, in [`Options::targets`] order.
    pub targets: Vec<TargetResult>,
}

impl ProgramResult {
    /// The result of `engine` in `limits`.
    pub fn get(&self, engine: Engine, limits: Limits) -> Option<&TargetResult> {
        self.targets
            .iter()
            .find(|t| t.target.engine == engine && t.target.limits == limits)
    }
}

/// Progress of a run, for a progress bar.
#[derive(Clone, Debug)]
pub struct Progress<'a> {
    /// The program.
    pub program: &'a str,
    /// Iteration (warm-up included), 1-based.
    pub iteration: usize,
    /// Iterations in all.
    pub iterations: usize,
    /// The target that just ran.
    pub target: Target,
}

fn set_up(
    program: &Program,
    target: Target,
    phases: &[Phase],
) -> Result<Box<dyn Runner>, SetupError> {
    match target.engine {
        Engine::Cage(name) => cage_exec::set_up(program, name, target.limits, phases),
        Engine::RawWasmtime => raw_wasmtime::set_up(program, target.limits),
        Engine::RawWasmer(name) => raw_wasmer::set_up(program, name, target.limits),
    }
}

/// What every run must show: the expected files, or what the first verified run showed.
struct Reference {
    exit: Option<Exit>,
    stdout: Option<(Vec<u8>, String)>,
    stderr: Option<(Vec<u8>, String)>,
}

impl Reference {
    fn of(e: &Expected) -> Reference {
        let from = |f: &Option<std::path::PathBuf>| {
            f.as_ref().map_or_else(
                || "the expected file".to_owned(),
                |p| p.display().to_string(),
            )
        };
        Reference {
            exit: e.exit_code.map(Exit::Code),
            stdout: e.stdout.clone().map(|s| (s, from(&e.stdout_file))),
            stderr: e.stderr.clone().map(|s| (s, from(&e.stderr_file))),
        }
    }

    /// Checks a run, adopting what it showed where nothing was expected yet.
    fn check(&mut self, it: &Iteration, who: &str) -> Result<(), String> {
        match &self.exit {
            Some(want) if *want != it.exit => {
                return Err(format!("{}, expected {want}", it.exit));
            }
            Some(_) => {}
            None => self.exit = Some(it.exit.clone()),
        }
        for (name, got, want) in [
            ("stdout", &it.stdout, &mut self.stdout),
            ("stderr", &it.stderr, &mut self.stderr),
        ] {
            match want {
                Some((w, from)) if !suite::same_lines(got, w) => {
                    return Err(format!(
                        "{name} differs from {from}: {}",
                        suite::first_difference(got, w)
                    ));
                }
                Some(_) => {}
                None => *want = Some((got.clone(), format!("{who}'s {name}"))),
            }
        }
        Ok(())
    }
}

/// Runs `program` on every target of `options`: set-up, then the warm-up and measured
/// iterations interleaved across targets, each verified; then the fuel identity across
/// runtimes. `progress` is told after each target's iteration.
///
/// Must run on one thread with room for the policy's stack (Wasmer's stores stay on the thread
/// that made them; see [`cage::on_guest_thread`]).
pub fn run_program(
    program: &Program,
    options: &Options,
    progress: &mut dyn FnMut(Progress<'_>),
) -> ProgramResult {
    let targets = options.targets();
    let mut results: Vec<TargetResult> = targets
        .iter()
        .map(|&target| TargetResult {
            target,
            status: Status::Ok,
            phases: BTreeMap::new(),
            exit: None,
            fuel: None,
            region_fuel: None,
            ns_per_fuel: None,
        })
        .collect();
    let mut runners: Vec<Option<Box<dyn Runner>>> = Vec::with_capacity(targets.len());
    for (t, r) in targets.iter().zip(&mut results) {
        match set_up(program, *t, &options.phases) {
            Ok(runner) => runners.push(Some(runner)),
            Err(SetupError::Unsupported(why)) => {
                r.status = Status::NotApplicable(why);
                runners.push(None);
            }
            Err(SetupError::Failed(why)) => {
                r.status = if t.engine.kind() == "cage" {
                    Status::Failed(why)
                } else {
                    Status::NotApplicable(why)
                };
                runners.push(None);
            }
        }
    }
    let mut reference = Reference::of(&program.expected);
    let mut samples: Vec<BTreeMap<Phase, Vec<f64>>> = vec![BTreeMap::new(); targets.len()];
    let mut per_fuel: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    let total = options.warmup + options.iterations;
    for i in 0..total {
        for (k, slot) in runners.iter_mut().enumerate() {
            let Some(runner) = slot else { continue };
            let t = targets[k];
            let who = t.id();
            let it = runner.iterate(&options.phases);
            let r = &mut results[k];
            let verdict = it.and_then(|it| {
                reference
                    .check(&it, &who)
                    .map_err(|e| format!("iteration {}: {e}", i + 1))?;
                if let Some(f) = r.fuel
                    && it.fuel != Some(f)
                {
                    return Err(format!(
                        "fuel_consumed {:?} in iteration {}, {f} before",
                        it.fuel,
                        i + 1
                    ));
                }
                Ok(it)
            });
            match verdict {
                Ok(it) => {
                    r.exit = Some(it.exit.clone());
                    r.fuel = it.fuel;
                    r.region_fuel = it.region_fuel;
                    if i >= options.warmup {
                        for (p, ns) in &it.times {
                            samples[k].entry(*p).or_default().push(*ns);
                        }
                        let used = if it.marked { it.region_fuel } else { it.fuel };
                        if let (Some(ns), Some(f)) = (it.times.get(&Phase::Execute), used)
                            && f > 0
                        {
                            per_fuel[k].push(ns / f as f64);
                        }
                    }
                }
                Err(e) => {
                    r.status = if t.engine.kind() == "cage" {
                        Status::Failed(e)
                    } else {
                        Status::NotApplicable(format!("fails: {e}"))
                    };
                    *slot = None;
                }
            }
            progress(Progress {
                program: &program.name,
                iteration: i + 1,
                iterations: total,
                target: t,
            });
        }
    }
    drop(runners);
    for (k, r) in results.iter_mut().enumerate() {
        if r.status == Status::Ok {
            r.phases = std::mem::take(&mut samples[k])
                .into_iter()
                .map(|(p, v)| (p, PhaseStats::of(v)))
                .collect();
            if !per_fuel[k].is_empty() {
                r.ns_per_fuel = Some(Spread::of(std::mem::take(&mut per_fuel[k])));
            }
        }
    }
    // Fuel identity: every metered Cage target consumed the same.
    let metered: Vec<(String, u64)> = results
        .iter()
        .filter(|r| r.target.engine.kind() == "cage" && r.status == Status::Ok)
        .filter_map(|r| Some((r.target.id(), r.fuel?)))
        .collect();
    let mut failure = results.iter().find_map(|r| match &r.status {
        Status::Failed(e) => Some(format!("{}: {e}", r.target.id())),
        _ => None,
    });
    if failure.is_none()
        && let Some((first, f0)) = metered.first()
        && let Some((other, f)) = metered.iter().find(|(_, f)| f != f0)
    {
        failure = Some(format!(
            "fuel differs across runtimes: {first} consumed {f0}, {other} {f}"
        ));
    }
    if failure.is_none()
        && !results
            .iter()
            .any(|r| r.target.engine.kind() == "cage" && r.status == Status::Ok)
    {
        failure = Some("no Cage runtime could run it".to_owned());
    }
    // A benchmark that failed reports no number.
    if failure.is_some() {
        for r in &mut results {
            r.phases.clear();
            r.ns_per_fuel = None;
        }
    }
    ProgramResult {
        name: program.name.clone(),
        wasm: program.wasm.clone(),
        sha256: cage::module::module_hash(&program.bytes),
        markers: imports_markers(&program.bytes),
        failure,
        targets: results,
    }
}
