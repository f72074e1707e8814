//! `wasmtime-wasi`'s side: the program on raw Wasmtime 48.0.8 with
//! `wasmtime_wasi::p1::add_to_linker_sync`, configured from the same policy, with the conformance
//! `cage_test` host functions and `cage_oracle.log` as `Linker::func_wrap`s.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use cage::policy::{DirMode, Random};
use cage::{Policy, Value};
use cage_conformance::oracle::{LOG_MODULE, LOG_NAME};
use wasmtime::{
    Caller, Config, Engine, Extern, Linker, Module, Store, StoreLimits, StoreLimitsBuilder, Val,
};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, HostMonotonicClock, HostWallClock, WasiCtxBuilder};

use crate::{Calls, Copies, DEADLINE, Observation, Outcome, Program, Step, TICK};

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

pub(crate) struct State {
    wasi: WasiP1Ctx,
    log: Vec<(u32, i32)>,
    limits: StoreLimits,
    /// The instance's `memory` export, once instantiated.
    memory: Option<wasmtime::Memory>,
}

/// One engine for every program: Wasmtime's defaults, the proposals the fuzzer's modules may
/// use, epoch interruption ticked by one thread.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .wasm_simd(true)
            .wasm_relaxed_simd(true)
            .wasm_multi_memory(true)
            .wasm_extended_const(true)
            .wasm_exceptions(true)
            .wasm_wide_arithmetic(true)
            .max_wasm_stack(usize::try_from(Policy::default().limits.max_stack.bytes()).unwrap());
        let engine = Engine::new(&config).expect("the oracle's Wasmtime engine");
        let ticking = engine.clone();
        std::thread::Builder::new()
            .name("oracle-epoch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(TICK);
                    ticking.increment_epoch();
                }
            })
            .expect("the epoch thread");
        engine
    })
}

/// The WASI context of `policy` with `dirs` preopened, and its captured output.
fn wasi_ctx(
    policy: &Policy,
    dirs: &[PathBuf],
) -> Result<(WasiP1Ctx, MemoryOutputPipe, MemoryOutputPipe), String> {
    let w = &policy.wasi;
    let limit = usize::try_from(policy.limits.max_output.bytes()).unwrap_or(usize::MAX);
    let (stdout, stderr) = (MemoryOutputPipe::new(limit), MemoryOutputPipe::new(limit));
    let mut b = WasiCtxBuilder::new();
    b.args(&w.args)
        .stdin(MemoryInputPipe::new(w.stdin.clone().unwrap_or_default()))
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .wall_clock(Frozen)
        .monotonic_clock(Frozen);
    for (k, v) in &w.env {
        b.env(k, v);
    }
    if let Random::Seeded { seed } = w.random {
        use rand_core::SeedableRng;
        b.secure_random(rand_chacha::ChaCha20Rng::seed_from_u64(seed))
            .insecure_random(rand_chacha::ChaCha20Rng::seed_from_u64(seed));
    }
    for (d, host) in w.dirs.iter().zip(dirs) {
        let perms = match d.mode {
            DirMode::Ro => FsPerms::ReadOnly,
            DirMode::Rw => FsPerms::ReadWrite,
            other => return Err(format!("no wasmtime-wasi mode for {other:?}")),
        };
        b.preopened_dir(host, &d.guest, perms)
            .map_err(|e| format!("cannot preopen {}: {e}", host.display()))?;
    }
    Ok((b.build_p1(), stdout, stderr))
}

/// The conformance `cage_test` host functions as Cage defines them, unmetered (see
/// `conformance/src/host.rs`).
fn cage_test(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    // Cage's host functions reach the exported `memory`, also when the host calls one through
    // the guest's re-export of it (no calling instance: the memory found at instantiation);
    // without one every access traps (`memory_out_of_bounds`), whatever its length.
    fn memory(c: &mut Caller<'_, State>) -> wasmtime::Result<wasmtime::Memory> {
        match c.get_export("memory") {
            Some(Extern::Memory(m)) => Ok(m),
            _ => c
                .data()
                .memory
                .ok_or_else(|| wasmtime::Error::msg("no exported memory")),
        }
    }
    fn range(ptr: i32, len: i32, size: usize) -> wasmtime::Result<std::ops::Range<usize>> {
        let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
        match ptr.checked_add(len) {
            Some(end) if end <= size => Ok(ptr..end),
            _ => Err(wasmtime::Error::msg("out of bounds")),
        }
    }
    let m = "cage_test";
    linker.func_wrap(m, "nop", || {})?;
    linker.func_wrap(m, "expensive", || {})?;
    linker.func_wrap(m, "consume", |_: i64| {})?;
    linker.func_wrap(m, "fuel_left", || -1i64)?;
    linker.func_wrap(m, "fail", || -> wasmtime::Result<()> {
        Err(wasmtime::Error::msg("requested failure"))
    })?;
    linker.func_wrap(
        m,
        "sum",
        |mut c: Caller<'_, State>, ptr: i32, len: i32| -> wasmtime::Result<i32> {
            let mem = memory(&mut c)?;
            let data = mem.data(&c);
            let bytes = &data[range(ptr, len, data.len())?];
            Ok(bytes
                .iter()
                .map(|b| i32::from(*b))
                .fold(0, i32::wrapping_add))
        },
    )?;
    linker.func_wrap(
        m,
        "fill",
        |mut c: Caller<'_, State>, ptr: i32, len: i32, byte: i32| -> wasmtime::Result<()> {
            let mem = memory(&mut c)?;
            let data = mem.data_mut(&mut c);
            let r = range(ptr, len, data.len())?;
            data[r].fill(byte as u8);
            Ok(())
        },
    )?;
    linker.func_wrap(
        m,
        "divmod",
        |a: i32, b: i32| -> wasmtime::Result<(i32, i32)> {
            let (a, b) = (a as u32, b as u32);
            if b == 0 {
                return Err(wasmtime::Error::msg("division by zero"));
            }
            Ok(((a / b) as i32, (a % b) as i32))
        },
    )?;
    Ok(())
}

fn show(v: &Val) -> String {
    match v {
        Val::I32(x) => format!("i32:{x}"),
        Val::I64(x) => format!("i64:{x}"),
        Val::F32(b) => format!("f32:{b:#x}"),
        Val::F64(b) => format!("f64:{b:#x}"),
        Val::V128(b) => format!("v128:{:#x}", b.as_u128()),
        Val::FuncRef(r) => format!("funcref{}", if r.is_none() { ":null" } else { "" }),
        Val::ExternRef(r) => format!("externref{}", if r.is_none() { ":null" } else { "" }),
        Val::AnyRef(r) => format!("anyref{}", if r.is_none() { ":null" } else { "" }),
        Val::ExnRef(r) => format!("exnref{}", if r.is_none() { ":null" } else { "" }),
        _ => "?".to_owned(),
    }
}

fn arg(v: &Value) -> Result<Val, String> {
    Ok(match v {
        Value::I32(x) => Val::I32(*x),
        Value::I64(x) => Val::I64(*x),
        Value::F32(b) => Val::F32(*b),
        Value::F64(b) => Val::F64(*b),
        Value::V128(b) => Val::V128((*b).into()),
        Value::FuncRef { null: true } => Val::FuncRef(None),
        Value::ExternRef(None) => Val::ExternRef(None),
        Value::AnyRef { null: true } => Val::AnyRef(None),
        Value::ExnRef { null: true } => Val::ExnRef(None),
        other => return Err(format!("the oracle cannot pass {other:?} to raw Wasmtime")),
    })
}

/// A failed step: `proc_exit` (`I32Exit`), a trap, or a host error (which traps the guest).
fn failed(what: &str, e: &wasmtime::Error, log_len: usize) -> Step {
    let (outcome, stack_overflow) = if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        (Outcome::Exited(exit.0), false)
    } else {
        let trap = e.downcast_ref::<wasmtime::Trap>();
        (
            Outcome::Trapped,
            trap == Some(&wasmtime::Trap::StackOverflow),
        )
    };
    Step {
        what: what.to_owned(),
        outcome,
        // The cause, not the backtrace (which names instrumented function indices).
        message: Some(e.root_cause().to_string()),
        stack_overflow,
        log_len,
    }
}

fn rejected(what: &str, e: &wasmtime::Error) -> Observation {
    Observation {
        steps: vec![Step {
            what: what.to_owned(),
            outcome: Outcome::Rejected,
            // The cause, not the backtrace (which names instrumented function indices).
            message: Some(e.root_cause().to_string()),
            stack_overflow: false,
            log_len: 0,
        }],
        ..Observation::default()
    }
}

/// Runs `p` on raw Wasmtime with `wasmtime-wasi`'s preview 1.
pub(crate) fn run(p: &Program) -> Result<Observation, String> {
    let copies = Copies::new(p).map_err(|e| format!("cannot copy the preopens: {e}"))?;
    let engine = engine();
    let module = match Module::new(engine, &p.module.bytes) {
        Ok(m) => m,
        Err(e) => return Ok(rejected("compile", &e)),
    };
    let mut linker: Linker<State> = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut State| &mut s.wasi)
        .map_err(|e| e.to_string())?;
    cage_test(&mut linker).map_err(|e| e.to_string())?;
    linker
        .func_wrap(
            LOG_MODULE,
            LOG_NAME,
            |mut c: Caller<'_, State>, index: i32, errno: i32| {
                c.data_mut().log.push((index as u32, errno));
            },
        )
        .map_err(|e| e.to_string())?;
    let pre = match linker.instantiate_pre(&module) {
        Ok(p) => p,
        Err(e) => return Ok(rejected("link", &e)),
    };
    let (wasi, stdout, stderr) = wasi_ctx(&p.policy, &copies.dirs)?;
    let l = &p.policy.limits;
    let limits = StoreLimitsBuilder::new()
        .memory_size(usize::try_from(l.max_memory.bytes()).unwrap_or(usize::MAX))
        .table_elements(usize::try_from(l.max_table_elements).unwrap_or(usize::MAX))
        .trap_on_grow_failure(l.trap_on_grow_failure)
        .build();
    let mut store = Store::new(
        engine,
        State {
            wasi,
            log: Vec::new(),
            limits,
            memory: None,
        },
    );
    store.limiter(|s| &mut s.limits);
    store.set_epoch_deadline((DEADLINE.as_millis() / TICK.as_millis()) as u64);
    let mut obs = Observation::default();
    let instance = match pre.instantiate(&mut store) {
        Ok(i) => {
            store.data_mut().memory = i.get_memory(&mut store, "memory");
            obs.steps.push(Step {
                what: "instantiate".into(),
                outcome: Outcome::Returned(Vec::new()),
                message: None,
                stack_overflow: false,
                log_len: store.data().log.len(),
            });
            Some(i)
        }
        Err(e) => {
            obs.steps
                .push(failed("instantiate", &e, store.data().log.len()));
            None
        }
    };
    if let Some(instance) = instance {
        let list: Vec<(String, Vec<Value>)> = match &p.calls {
            Calls::Command => vec![("_start".to_owned(), Vec::new())],
            Calls::Exports(list) => list.clone(),
            Calls::Every => module
                .exports()
                .filter_map(|e| match e.ty() {
                    wasmtime::ExternType::Func(f) => Some((
                        e.name().to_owned(),
                        f.params()
                            .map(|t| match t {
                                wasmtime::ValType::I32 => Value::I32(0),
                                wasmtime::ValType::I64 => Value::I64(0),
                                wasmtime::ValType::F32 => Value::F32(0),
                                wasmtime::ValType::F64 => Value::F64(0),
                                wasmtime::ValType::V128 => Value::V128(0),
                                wasmtime::ValType::Ref(r) => match r.heap_type().top() {
                                    wasmtime::HeapType::Func => Value::FuncRef { null: true },
                                    wasmtime::HeapType::Extern => Value::ExternRef(None),
                                    wasmtime::HeapType::Exn => Value::ExnRef { null: true },
                                    _ => Value::AnyRef { null: true },
                                },
                            })
                            .collect(),
                    )),
                    _ => None,
                })
                .collect(),
        };
        for (name, args) in list {
            let Some(f) = instance.get_func(&mut store, &name) else {
                return Err(format!("no exported function `{name}`"));
            };
            let args = args.iter().map(arg).collect::<Result<Vec<_>, _>>()?;
            let ty = f.ty(&store);
            let mut results: Vec<Val> = ty
                .results()
                .map(|t| Val::default_for_ty(&t).unwrap_or(Val::I32(0)))
                .collect();
            let r = f.call(&mut store, &args, &mut results);
            let log_len = store.data().log.len();
            obs.steps.push(match r {
                Ok(()) => Step {
                    what: name.clone(),
                    outcome: if matches!(p.calls, Calls::Command) {
                        Outcome::Exited(0)
                    } else {
                        Outcome::Returned(results.iter().map(show).collect())
                    },
                    message: None,
                    stack_overflow: false,
                    log_len,
                },
                Err(e) => failed(&name, &e, log_len),
            });
        }
    }
    obs.log = store.data().log.clone();
    drop(store);
    obs.stdout = stdout.contents().to_vec();
    obs.stderr = stderr.contents().to_vec();
    obs.files = copies.files();
    Ok(obs)
}
