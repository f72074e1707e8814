//! `raw-wasmtime`: the program on Wasmtime 48.0.8 through its own API with `wasmtime-wasi`
//! 48.0.8's preview 1 (`p1::add_to_linker_sync`), configured from the program's `[wasi]`
//! section as Cage's runs are (the same argv, environment, stdin and preopens, a frozen clock),
//! and the markers as `Linker::func_wrap`s. One call is not `wasmtime-wasi`'s: `random_get`
//! gives the bytes of Cage's seeded generator (ChaCha20 from the same seed, filled straight into
//! guest memory), so that every engine runs the same workload. The engine gets what Cage's gets with
//! no limit on (Cranelift at `OptLevel::Speed`, the proposals the program uses) and Wasmtime's
//! defaults otherwise; the `fuel` configuration switches on Wasmtime's own `consume_fuel`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use cage::Proposal;
use cage::policy::DirMode;
use wasmtime::{Caller, Config, Engine, InstancePre, Linker, Module, OptLevel, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, HostMonotonicClock, HostWallClock, I32Exit, WasiCtxBuilder};

use rand_core::Rng as _;

use super::cage_exec::RANDOM_SEED;
use super::{Exit, Iteration, Markers, Phase, Program, Runner, SetupError};
use crate::{FUEL_BUDGET, Limits};

/// Cage's frozen clocks, for `wasmtime-wasi`.
struct Frozen;

impl HostWallClock for Frozen {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        Duration::from_nanos(cage::wasi::FROZEN_REALTIME_NS)
    }
}

impl HostMonotonicClock for Frozen {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        cage::wasi::FROZEN_MONOTONIC_NS
    }
}

struct State {
    wasi: WasiP1Ctx,
    markers: Markers,
    /// The random stream of Cage's seeded WASI (see `random_get`).
    rng: rand_chacha::ChaCha20Rng,
}

struct RawWasmtime {
    engine: Engine,
    bytes: std::sync::Arc<[u8]>,
    pre: InstancePre<State>,
    policy: cage::Policy,
    fuel: bool,
}

fn e(err: wasmtime::Error) -> String {
    format!("{err:#}")
}

pub(super) fn set_up(program: &Program, limits: Limits) -> Result<Box<dyn Runner>, SetupError> {
    let failed = |m: String| SetupError::Failed(m);
    let mut config = Config::new();
    config.cranelift_opt_level(OptLevel::Speed);
    config.consume_fuel(limits.fuel);
    if program.uses(Proposal::Gc) || program.uses(Proposal::FunctionReferences) {
        config.wasm_gc(true).wasm_function_references(true);
    }
    let engine = Engine::new(&config).map_err(|err| failed(e(err)))?;
    let module = Module::new(&engine, &program.bytes).map_err(|err| failed(e(err)))?;
    let mut linker: Linker<State> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut State| &mut s.wasi)
        .map_err(|err| failed(e(err)))?;
    linker
        .func_wrap(super::MARKER_MODULE, "start", |mut c: Caller<'_, State>| {
            let fuel = c.get_fuel().ok();
            c.data_mut().markers.start = Some((Instant::now(), fuel));
        })
        .and_then(|l| {
            l.func_wrap(super::MARKER_MODULE, "end", |mut c: Caller<'_, State>| {
                let now = Instant::now();
                let fuel = c.get_fuel().ok();
                c.data_mut().markers.end = Some((now, fuel));
            })
        })
        .map_err(|err| failed(e(err)))?;
    // `random_get` as Cage's seeded WASI answers it: `wasmtime-wasi` seeded with the same
    // generator draws one `u32` per byte, a different stream, and programs whose work depends
    // on the random numbers (libsodium's tests draw message lengths) would run different
    // workloads on different engines.
    linker.allow_shadowing(true);
    linker
        .func_wrap(
            "wasi_snapshot_preview1",
            "random_get",
            |mut c: Caller<'_, State>, buf: i32, len: i32| -> wasmtime::Result<i32> {
                let Some(wasmtime::Extern::Memory(memory)) = c.get_export("memory") else {
                    wasmtime::bail!("random_get: no exported memory");
                };
                let (data, state) = memory.data_and_store_mut(&mut c);
                let (start, len) = (buf as u32 as usize, len as u32 as usize);
                let Some(dest) = start
                    .checked_add(len)
                    .and_then(|end| data.get_mut(start..end))
                else {
                    wasmtime::bail!("random_get: out of bounds");
                };
                state.rng.fill_bytes(dest);
                Ok(0)
            },
        )
        .map_err(|err| failed(e(err)))?;
    let pre = linker
        .instantiate_pre(&module)
        .map_err(|err| SetupError::Unsupported(format!("cannot link: {}", e(err))))?;
    Ok(Box::new(RawWasmtime {
        engine,
        bytes: program.bytes.clone(),
        pre,
        policy: program.policy.clone(),
        fuel: limits.fuel,
    }))
}

impl RawWasmtime {
    /// The WASI context of the program's `[wasi]` section, and its captured output.
    fn wasi(&self) -> Result<(WasiP1Ctx, MemoryOutputPipe, MemoryOutputPipe), String> {
        let w = &self.policy.wasi;
        let limit = usize::try_from(self.policy.limits.max_output.bytes()).unwrap_or(usize::MAX);
        let (stdout, stderr) = (MemoryOutputPipe::new(limit), MemoryOutputPipe::new(limit));
        let mut b = WasiCtxBuilder::new();
        b.args(&w.args)
            .stdin(MemoryInputPipe::new(w.stdin.clone().unwrap_or_default()))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(Frozen)
            .monotonic_clock(Frozen)
            // Synchronous use, as here: file operations run on this thread instead of a
            // round trip through Tokio's blocking pool (`wasmtime-wasi`'s own advice; without
            // it a 16-byte `fd_read` costs ~25 µs).
            .allow_blocking_current_thread(true);
        for (k, v) in &w.env {
            b.env(k, v);
        }
        {
            use rand_core::SeedableRng;
            b.secure_random(rand_chacha::ChaCha20Rng::seed_from_u64(RANDOM_SEED))
                .insecure_random(rand_chacha::ChaCha20Rng::seed_from_u64(RANDOM_SEED));
        }
        for d in &w.dirs {
            let perms = match d.mode {
                DirMode::Ro => FsPerms::ReadOnly,
                DirMode::Rw => FsPerms::ReadWrite,
                other => return Err(format!("no wasmtime-wasi mode for {other:?}")),
            };
            b.preopened_dir(&d.host, &d.guest, perms)
                .map_err(|err| format!("cannot preopen {}: {}", d.host.display(), e(err)))?;
        }
        Ok((b.build_p1(), stdout, stderr))
    }
}

impl Runner for RawWasmtime {
    fn iterate(&mut self, phases: &[Phase]) -> Result<Iteration, String> {
        let mut times = BTreeMap::new();
        if phases.contains(&Phase::Compile) {
            let t = Instant::now();
            black_box(Module::new(&self.engine, &self.bytes).map_err(e)?);
            times.insert(Phase::Compile, t.elapsed().as_nanos() as f64);
        }
        let t = Instant::now();
        let (wasi, stdout, stderr) = self.wasi()?;
        let mut store = Store::new(
            &self.engine,
            State {
                wasi,
                markers: Markers::default(),
                rng: {
                    use rand_core::SeedableRng;
                    rand_chacha::ChaCha20Rng::seed_from_u64(RANDOM_SEED)
                },
            },
        );
        if self.fuel {
            store.set_fuel(FUEL_BUDGET).map_err(e)?;
        }
        let instance = self.pre.instantiate(&mut store).map_err(e)?;
        times.insert(Phase::Instantiate, t.elapsed().as_nanos() as f64);
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
            .map_err(e)?;
        let t = Instant::now();
        let r = start.call(&mut store, ());
        let whole = t.elapsed().as_nanos() as f64;
        let exit = match r {
            Ok(()) => Exit::Code(0),
            Err(err) => match err.downcast_ref::<I32Exit>() {
                Some(code) => Exit::Code(code.0),
                None => Exit::Failed(format!("trapped: {}", err.root_cause())),
            },
        };
        let region = store.data().markers.region();
        drop(store);
        times.insert(Phase::Execute, region.map_or(whole, |(ns, _)| ns));
        Ok(Iteration {
            times,
            exit,
            stdout: stdout.contents().to_vec(),
            stderr: stderr.contents().to_vec(),
            // Wasmtime's own fuel is not Cage's count: not compared.
            fuel: None,
            region_fuel: None,
            marked: region.is_some(),
        })
    }
}
