//! A program on a Cage runtime, through the public API only (`cage::runtime_named`, `prepare`,
//! `compile_dyn`, `sandbox`, `instantiate`, `call`), with Cage's WASI made deterministic
//! (frozen clock, seeded random) and the markers as Cage host functions.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use cage::policy::{Clock, Random};
use cage::{
    DiskCache, DynModule, DynRuntime, Error, HmacKey, HostFunctions, Invocation, Outcome,
    Rejection, RuntimeError, RuntimeName,
};

use super::{Exit, Iteration, Markers, Phase, Program, Runner, SetupError, marker_functions};
use crate::{DEADLINE, FUEL_BUDGET, Limits};

/// The seed of Cage's random source in every benchmark run.
pub(crate) const RANDOM_SEED: u64 = 0x5167_6874;

struct CageRunner {
    bytes: std::sync::Arc<[u8]>,
    host: HostFunctions,
    /// Memory cache off: every compile is cold.
    cold: Box<dyn DynRuntime>,
    /// Memory cache on and primed.
    memory: Option<Box<dyn DynRuntime>>,
    /// Memory cache off, disk cache primed; the directory lives as long as the runner.
    disk: Option<(Box<dyn DynRuntime>, tempfile::TempDir)>,
    /// The module every iteration instantiates.
    module: Box<dyn DynModule>,
}

fn text(e: Error) -> String {
    e.to_string()
}

fn runtime(name: RuntimeName, policy: &cage::Policy) -> Result<Box<dyn DynRuntime>, SetupError> {
    cage::runtime_named(name, policy).map_err(|e| match e {
        RuntimeError::NotCompiledIn { .. } => SetupError::Unsupported(e.to_string()),
        other => SetupError::Failed(other.to_string()),
    })
}

impl CageRunner {
    fn compile(&self, rt: &dyn DynRuntime) -> Result<Box<dyn DynModule>, String> {
        let checked =
            cage::prepare(rt, &self.bytes, &self.host, &Invocation::Command).map_err(text)?;
        rt.compile_dyn(&checked, &self.host).map_err(text)
    }
}

/// The policy of a Cage target: the program's, with the configuration's limits and
/// deterministic WASI.
pub(crate) fn policy_for(program: &Program, limits: Limits) -> cage::Policy {
    let mut policy = program.policy.clone();
    policy.limits.fuel = limits.fuel.then_some(FUEL_BUDGET);
    policy.limits.timeout = limits.deadline.then_some(DEADLINE);
    policy.wasi.clock = Clock::Frozen;
    policy.wasi.random = Random::Seeded { seed: RANDOM_SEED };
    policy
}

pub(super) fn set_up(
    program: &Program,
    name: RuntimeName,
    limits: Limits,
    phases: &[Phase],
) -> Result<Box<dyn Runner>, SetupError> {
    let policy = policy_for(program, limits);
    let host = marker_functions();
    let cold = runtime(name, &policy)?;
    cold.set_memory_cache_capacity(0);
    let checked = cage::prepare(cold.as_ref(), &program.bytes, &host, &Invocation::Command)
        .map_err(|e| match e.outcome() {
            Outcome::Rejected(Rejection::Unsupported) => SetupError::Unsupported(e.to_string()),
            _ => SetupError::Failed(e.to_string()),
        })?;
    let module = cold
        .compile_dyn(&checked, &host)
        .map_err(|e| SetupError::Failed(e.to_string()))?;
    let mut runner = CageRunner {
        bytes: program.bytes.clone(),
        host,
        cold,
        memory: None,
        disk: None,
        module,
    };
    let failed = SetupError::Failed;
    if phases.contains(&Phase::CompileMemory) {
        let rt = runtime(name, &policy)?;
        runner.compile(rt.as_ref()).map_err(failed)?;
        runner.memory = Some(rt);
    }
    if phases.contains(&Phase::CompileDisk) {
        let rt = runtime(name, &policy)?;
        let dir = tempfile::tempdir().map_err(|e| failed(e.to_string()))?;
        let key = HmacKey::generate().map_err(|e| failed(e.to_string()))?;
        let cache =
            DiskCache::open(dir.path().join("cache"), key).map_err(|e| failed(e.to_string()))?;
        rt.set_memory_cache_capacity(0);
        rt.set_disk_cache(Some(cache));
        runner.compile(rt.as_ref()).map_err(failed)?;
        if rt.cache_stats().stored != 1 {
            return Err(failed(format!(
                "the disk cache did not store the module: {:?}",
                rt.cache_stats()
            )));
        }
        runner.disk = Some((rt, dir));
    }
    Ok(Box::new(runner))
}

impl Runner for CageRunner {
    fn iterate(&mut self, phases: &[Phase]) -> Result<Iteration, String> {
        let mut times = BTreeMap::new();
        let timed = |rt: &dyn DynRuntime| -> Result<f64, String> {
            let t = Instant::now();
            black_box(self.compile(rt)?);
            Ok(t.elapsed().as_nanos() as f64)
        };
        if phases.contains(&Phase::Compile) {
            times.insert(Phase::Compile, timed(self.cold.as_ref())?);
        }
        if let Some(rt) = &self.memory {
            let before = rt.cache_stats().memory_hits;
            times.insert(Phase::CompileMemory, timed(rt.as_ref())?);
            if rt.cache_stats().memory_hits != before + 1 {
                return Err("the memory cache did not answer".into());
            }
        }
        if let Some((rt, _)) = &self.disk {
            let before = rt.cache_stats().disk_hits;
            times.insert(Phase::CompileDisk, timed(rt.as_ref())?);
            if rt.cache_stats().disk_hits != before + 1 {
                return Err("the disk cache did not answer".into());
            }
        }
        let t = Instant::now();
        let mut sandbox = self.module.sandbox().map_err(text)?;
        sandbox.extensions().insert(Markers::default());
        sandbox.instantiate().map_err(text)?;
        times.insert(Phase::Instantiate, t.elapsed().as_nanos() as f64);
        let t = Instant::now();
        let r = sandbox.call("_start", &[]);
        let whole = t.elapsed().as_nanos() as f64;
        let markers = sandbox
            .extensions()
            .get::<Markers>()
            .copied()
            .unwrap_or_default();
        let exit = match r {
            Ok(_) => Exit::Code(0),
            Err(e) => match e.outcome() {
                Outcome::Exited(c) => Exit::Code(c),
                o => Exit::Failed(format!("{o}: {}", e.message().unwrap_or_default())),
            },
        };
        let stats = sandbox.stats();
        let output = sandbox.take_output();
        drop(sandbox);
        let region = markers.region();
        times.insert(Phase::Execute, region.map_or(whole, |(ns, _)| ns));
        Ok(Iteration {
            times,
            exit,
            stdout: output.stdout,
            stderr: output.stderr,
            fuel: stats.fuel_consumed,
            region_fuel: region.and_then(|(_, f)| f),
            marked: region.is_some(),
        })
    }
}
