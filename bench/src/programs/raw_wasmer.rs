//! `raw-wasmer-cranelift` and `raw-wasmer-singlepass`: the program on Wasmer 7.3.0 through its
//! own API with `wasmer-wasix` 0.703.0 (the release built on Wasmer 7.3.0), configured from the
//! program's `[wasi]` section (the same argv, environment, stdin and preopens; the host's
//! filesystem under them), and the markers as typed host functions. Cranelift runs at
//! `OptLevel::Speed`, as Cage's; the `fuel` configuration adds the stock `wasmer-middlewares`
//! `Metering` (one point per operator), so that Cage's own middleware is compared with the one
//! Wasmer ships.
//!
//! `wasmer-wasix` runs on a Tokio runtime (one worker thread, made at set-up). It offers no clock
//! or random hook, so two of its imports are replaced: `clock_time_get` answers Cage's frozen
//! clocks (raw-wasmtime gets them through `wasmtime-wasi`'s API) and `random_get` Cage's seeded
//! stream (as raw-wasmtime's), so that every engine prints the same and does the same work.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cage::policy::DirMode;
use cage::{Proposal, RuntimeName};
use wasmer::sys::{CompilerConfig as _, Cranelift, CraneliftOptLevel, EngineBuilder};
use wasmer::wasmparser::Operator;
use wasmer::{Engine, Function, FunctionEnv, FunctionEnvMut, Instance, Memory, Module, Store};
use wasmer_middlewares::Metering;
use wasmer_wasix::runtime::task_manager::tokio::TokioTaskManager;
use wasmer_wasix::{Pipe, PluggableRuntime, WasiEnv, WasiError};

use rand_core::{Rng as _, SeedableRng as _};

use super::cage_exec::RANDOM_SEED;
use super::{Exit, Iteration, Markers, Phase, Program, Runner, SetupError};
use crate::{FUEL_BUDGET, Limits};

struct RawWasmer {
    engine: Engine,
    /// How `engine` was made: a `Metering` middleware serves one module only, so each cold
    /// compile with fuel gets a fresh engine (made before the clock starts).
    name: RuntimeName,
    fuel: bool,
    module: Module,
    bytes: Arc<[u8]>,
    policy: cage::Policy,
    /// `wasmer-wasix`'s runtime (task manager and engine); keeps the Tokio runtime alive.
    runtime: Arc<PluggableRuntime>,
    tokio: tokio::runtime::Runtime,
}

fn e(err: impl std::fmt::Display) -> String {
    err.to_string()
}

fn engine(name: RuntimeName, fuel: bool) -> Engine {
    let metering = || Arc::new(Metering::new(FUEL_BUDGET, |_: &Operator<'_>| 1u64));
    match name {
        #[cfg(feature = "wasmer-singlepass")]
        RuntimeName::WasmerSinglepass => {
            let mut c = wasmer::sys::Singlepass::new();
            if fuel {
                c.push_middleware(metering());
            }
            EngineBuilder::new(c).engine().into()
        }
        _ => {
            let mut c = Cranelift::new();
            c.opt_level(CraneliftOptLevel::Speed);
            if fuel {
                c.push_middleware(metering());
            }
            EngineBuilder::new(c).engine().into()
        }
    }
}

pub(super) fn set_up(
    program: &Program,
    name: RuntimeName,
    limits: Limits,
) -> Result<Box<dyn Runner>, SetupError> {
    if program.uses(Proposal::Gc) || program.uses(Proposal::FunctionReferences) {
        return Err(SetupError::Unsupported(
            "Wasmer 7.3 does not support the gc and function_references proposals".into(),
        ));
    }
    if name == RuntimeName::WasmerSinglepass && !cfg!(feature = "wasmer-singlepass") {
        return Err(SetupError::Failed(
            "raw-wasmer-singlepass is not compiled in: enable the `wasmer-singlepass` feature"
                .into(),
        ));
    }
    if name == RuntimeName::WasmerSinglepass && program.uses(Proposal::Simd) {
        return Err(SetupError::Unsupported(
            "Wasmer Singlepass does not support the simd proposal".into(),
        ));
    }
    let failed = |m: String| SetupError::Failed(m);
    let engine = engine(name, limits.fuel);
    let module = Module::from_binary(&engine, &program.bytes).map_err(|err| failed(e(err)))?;
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("raw-wasmer-tokio")
        .build()
        .map_err(|err| failed(format!("cannot start Tokio: {err}")))?;
    let mut runtime =
        PluggableRuntime::new(Arc::new(TokioTaskManager::new(tokio.handle().clone())));
    runtime.set_engine(engine.clone());
    Ok(Box::new(RawWasmer {
        engine,
        name,
        fuel: limits.fuel,
        module,
        bytes: program.bytes.clone(),
        policy: program.policy.clone(),
        runtime: Arc::new(runtime),
        tokio,
    }))
}

/// Everything a pipe holds now (its writer may still be open).
fn drain(pipe: &mut Pipe) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    while let Some(n) = pipe.try_read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

impl Runner for RawWasmer {
    fn iterate(&mut self, phases: &[Phase]) -> Result<Iteration, String> {
        let _entered = self.tokio.enter();
        let mut times = BTreeMap::new();
        if phases.contains(&Phase::Compile) {
            let fresh = self.fuel.then(|| engine(self.name, true));
            let on = fresh.as_ref().unwrap_or(&self.engine);
            let t = Instant::now();
            black_box(Module::from_binary(on, &self.bytes).map_err(e)?);
            times.insert(Phase::Compile, t.elapsed().as_nanos() as f64);
        }
        let w = &self.policy.wasi;
        let t = Instant::now();
        let mut store = Store::new(self.engine.clone());
        let (out_tx, mut out_rx) = Pipe::channel();
        let (err_tx, mut err_rx) = Pipe::channel();
        let (mut in_tx, in_rx) = Pipe::channel();
        in_tx
            .write_all(w.stdin.as_deref().unwrap_or_default())
            .map_err(e)?;
        in_tx.close();
        let host_fs = virtual_fs_root(&self.tokio)?;
        let argv0 = w.args.first().cloned().unwrap_or_else(|| "program".into());
        let mut b = WasiEnv::builder(argv0)
            .args(w.args.iter().skip(1))
            .envs(w.env.iter())
            .stdin(Box::new(in_rx))
            .stdout(Box::new(out_tx))
            .stderr(Box::new(err_tx))
            .fs(host_fs)
            .runtime(self.runtime.clone());
        for d in &w.dirs {
            let rw = d.mode == DirMode::Rw;
            // `wasmer-wasix` resolves host paths in its filesystem, rooted at `/`: a relative
            // path (`--dir-ro data::/data`) is made absolute against the working directory.
            let host = std::path::absolute(&d.host)
                .map_err(|err| format!("cannot preopen {}: {err}", d.host.display()))?;
            b = b
                .preopen_build(|p| {
                    p.directory(&host)
                        .alias(&d.guest)
                        .read(true)
                        .write(rw)
                        .create(rw)
                })
                .map_err(|err| format!("cannot preopen {}: {err}", d.host.display()))?;
        }
        let mut env = b.finalize(&mut store).map_err(e)?;
        let mut imports = env.import_object(&mut store, &self.module).map_err(e)?;
        let markers = Arc::new(Mutex::new(Markers::default()));
        let (m0, m1) = (markers.clone(), markers.clone());
        imports.define(
            super::MARKER_MODULE,
            "start",
            Function::new_typed(&mut store, move || {
                if let Ok(mut m) = m0.lock() {
                    m.start = Some((Instant::now(), None));
                }
            }),
        );
        imports.define(
            super::MARKER_MODULE,
            "end",
            Function::new_typed(&mut store, move || {
                let now = Instant::now();
                if let Ok(mut m) = m1.lock() {
                    m.end = Some((now, None));
                }
            }),
        );
        // Cage's frozen clock and seeded random in place of `wasmer-wasix`'s (it has no hook
        // for either): programs that print times (hashset) print the same as on every
        // runtime, and programs whose work depends on random numbers do the same work.
        let det = FunctionEnv::new(
            &mut store,
            Deterministic {
                memory: None,
                rng: rand_chacha::ChaCha20Rng::seed_from_u64(RANDOM_SEED),
            },
        );
        imports.define(
            "wasi_snapshot_preview1",
            "clock_time_get",
            Function::new_typed_with_env(&mut store, &det, frozen_clock_time_get),
        );
        imports.define(
            "wasi_snapshot_preview1",
            "random_get",
            Function::new_typed_with_env(&mut store, &det, seeded_random_get),
        );
        let instance = Instance::new(&mut store, &self.module, &imports).map_err(e)?;
        if let Ok(memory) = instance.exports.get_memory("memory") {
            det.as_mut(&mut store).memory = Some(memory.clone());
        }
        env.initialize(&mut store, instance.clone()).map_err(e)?;
        times.insert(Phase::Instantiate, t.elapsed().as_nanos() as f64);
        let start = instance
            .exports
            .get_typed_function::<(), ()>(&store, "_start")
            .map_err(e)?;
        let t = Instant::now();
        let r = start.call(&mut store);
        let whole = t.elapsed().as_nanos() as f64;
        let exit = match r {
            Ok(()) => Exit::Code(0),
            Err(err) => match err.downcast::<WasiError>() {
                Ok(WasiError::Exit(code)) => Exit::Code(code.raw()),
                Ok(other) => Exit::Failed(format!("wasi error: {other}")),
                Err(err) => Exit::Failed(format!("trapped: {err}")),
            },
        };
        let code = match exit {
            Exit::Code(c) => u16::try_from(c).ok().map(Into::into),
            Exit::Failed(_) => None,
        };
        env.on_exit(&mut store, code);
        let region = markers.lock().map_err(e)?.region();
        let (stdout, stderr) = (drain(&mut out_rx), drain(&mut err_rx));
        drop(store);
        times.insert(Phase::Execute, region.map_or(whole, |(ns, _)| ns));
        Ok(Iteration {
            times,
            exit,
            stdout,
            stderr,
            fuel: None,
            region_fuel: None,
            marked: region.is_some(),
        })
    }
}

/// `clock_time_get(id, precision, out)` with Cage's frozen clocks, as Cage's WASI answers it:
/// realtime and monotonic frozen, the CPU-time clocks `EBADF`, an unknown clock `EINVAL`, an
/// address outside memory `EFAULT`.
fn frozen_clock_time_get(
    mut env: FunctionEnvMut<'_, Deterministic>,
    id: i32,
    _precision: i64,
    out: i32,
) -> i32 {
    const EBADF: i32 = 8;
    const EFAULT: i32 = 21;
    const EINVAL: i32 = 28;
    let now = match id {
        0 => cage::wasi::FROZEN_REALTIME_NS,
        1 => cage::wasi::FROZEN_MONOTONIC_NS,
        2 | 3 => return EBADF,
        _ => return EINVAL,
    };
    let (det, store) = env.data_and_store_mut();
    let Some(memory) = &det.memory else {
        return EFAULT;
    };
    match memory
        .view(&store)
        .write(u64::from(out as u32), &now.to_le_bytes())
    {
        Ok(()) => 0,
        Err(_) => EFAULT,
    }
}

/// `random_get(buf, len)` with Cage's seeded stream (ChaCha20 from the same seed, the bytes
/// of `fill_bytes`), as Cage's WASI answers it; out of bounds traps, as there.
fn seeded_random_get(
    mut env: FunctionEnvMut<'_, Deterministic>,
    buf: i32,
    len: i32,
) -> Result<i32, wasmer::RuntimeError> {
    let (det, store) = env.data_and_store_mut();
    let Some(memory) = &det.memory else {
        return Err(wasmer::RuntimeError::new("random_get: no exported memory"));
    };
    let mut bytes = vec![0u8; len as u32 as usize];
    det.rng.fill_bytes(&mut bytes);
    memory
        .view(&store)
        .write(u64::from(buf as u32), &bytes)
        .map_err(|_| wasmer::RuntimeError::new("random_get: out of bounds"))?;
    Ok(0)
}

/// The state of the deterministic clock and random calls.
struct Deterministic {
    memory: Option<Memory>,
    rng: rand_chacha::ChaCha20Rng,
}

/// The host's filesystem from `/`, under which the preopens are resolved.
fn virtual_fs_root(
    tokio: &tokio::runtime::Runtime,
) -> Result<Arc<dyn wasmer_wasix::virtual_fs::FileSystem + Send + Sync>, String> {
    let fs = wasmer_wasix::virtual_fs::host_fs::FileSystem::new(tokio.handle().clone(), "/")
        .map_err(e)?;
    Ok(Arc::new(fs))
}
