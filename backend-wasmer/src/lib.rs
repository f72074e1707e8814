//! Cage backend for [Wasmer](https://wasmer.io): runtimes `wasmer-cranelift` (alias `wasmer`) and
//! `wasmer-singlepass`.
//!
//! Wasmer lacks some controls Wasmtime has; Cage builds them so the policy means the same thing:
//!
//! | policy | Wasmer mechanism |
//! |---|---|
//! | `fuel` | Cage's own metering middleware (`middleware.rs`) configured from core's cost model: the same costs as Wasmtime, including 1 per function entered and per-byte/per-element bulk costs; exhaustion is told apart from a guest `unreachable` by a flag global |
//! | `timeout` | `Store::interrupter()` (SIGUSR1) driven by a watchdog thread that repeats the interrupt until the call returns |
//! | `max_memory`, `max_table_elements` | Cage's `Tunables` (`tunables.rs`) lowering every memory's and table's maximum to the cap |
//! | `trap_on_grow_failure` | the middleware checks the result of `memory.grow`/`table.grow` |
//! | `max_memories`, `max_tables` | core's static check |
//! | `max_instances` | a live-sandbox counter per runtime |
//! | `max_stack` | `VMConfig::wasm_stack_size` (a minimum: Wasmer may reuse a larger cached stack) |
//! | `[features]` | `wasmer::sys::Features`; what a compiler cannot run is declared in its capabilities |
//!
//! The start function is removed from the module by the middleware and called by Cage right
//! after instantiation, so that fuel exhaustion in it is classified like anywhere else and host
//! functions see the guest's memory.

#![warn(missing_docs)]

mod convert;
mod host;
mod middleware;
mod tunables;
mod watchdog;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use cage_core::{
    Capabilities, CheckedModule, Error, Features, HostFunc, HostFunctions, LiveSandboxes, LiveSlot,
    Policy, PolicyError, Rejection, Runtime, Sandbox, Stats, Trap, Value, runtime_panicked,
};
use wasmer::sys::{
    BaseTunables, CompilerConfig, Cranelift, CraneliftOptLevel, EngineBuilder, NativeEngineExt,
    Singlepass, Target,
};
use wasmer::{Engine, Extern, FunctionEnv, Imports, Instance, Module, Store};
use wasmparser::WasmFeatures;

use crate::convert::{classified, classify, from_val, to_val};
use crate::host::Env;
use crate::middleware::{CageMiddleware, HiddenExports};
use crate::tunables::CageTunables;
use crate::watchdog::Watchdog;

/// Which Wasmer compiler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compiler {
    /// Cranelift: optimising, slower to compile.
    Cranelift,
    /// Singlepass: linear-time compilation, slower code, no SIMD, exceptions or wide arithmetic.
    Singlepass,
}

impl Compiler {
    /// The runtime name.
    pub fn runtime_name(self) -> &'static str {
        match self {
            Compiler::Cranelift => "wasmer-cranelift",
            Compiler::Singlepass => "wasmer-singlepass",
        }
    }

    /// The proposals this compiler can run. Neither runs `memory64` (Wasmer 7.3 panics compiling
    /// a 64-bit memory), tail calls (its translator rejects `return_call`), GC, typed function
    /// references, custom page sizes or stack switching.
    pub fn supported_features(self) -> Features {
        let common = WasmFeatures::WASM2
            | WasmFeatures::THREADS
            | WasmFeatures::MULTI_MEMORY
            | WasmFeatures::EXTENDED_CONST;
        Features::from_wasmparser(match self {
            Compiler::Cranelift => {
                common
                    | WasmFeatures::EXCEPTIONS
                    | WasmFeatures::RELAXED_SIMD
                    | WasmFeatures::WIDE_ARITHMETIC
            }
            Compiler::Singlepass => common.difference(WasmFeatures::SIMD),
        })
    }
}

/// Wasmer's feature switches for what the policy allows and the compiler supports.
fn wasmer_features(policy: &Policy, compiler: Compiler) -> wasmer::sys::Features {
    let on = policy.features.to_wasmparser() & compiler.supported_features().to_wasmparser();
    let mut f = wasmer::sys::Features::none();
    f.threads = on.contains(WasmFeatures::THREADS);
    f.reference_types = on.contains(WasmFeatures::REFERENCE_TYPES);
    f.simd = on.contains(WasmFeatures::SIMD);
    f.bulk_memory = on.contains(WasmFeatures::BULK_MEMORY);
    f.multi_value = on.contains(WasmFeatures::MULTI_VALUE);
    f.tail_call = on.contains(WasmFeatures::TAIL_CALL);
    f.multi_memory = on.contains(WasmFeatures::MULTI_MEMORY);
    f.memory64 = false;
    f.exceptions = on.contains(WasmFeatures::EXCEPTIONS);
    f.relaxed_simd = on.contains(WasmFeatures::RELAXED_SIMD);
    f.extended_const = on.contains(WasmFeatures::EXTENDED_CONST);
    f.wide_arithmetic = on.contains(WasmFeatures::WIDE_ARITHMETIC);
    f
}

/// Wasmer configured by one policy, with one compiler.
pub struct WasmerRuntime {
    compiler: Compiler,
    policy: Policy,
    capabilities: Capabilities,
    watchdog: Option<Arc<Watchdog>>,
    live: LiveSandboxes,
}

impl WasmerRuntime {
    /// Builds a runtime for `policy` with `compiler`.
    ///
    /// # Errors
    /// An invalid policy; a deadline on a platform without Wasmer's host interrupts (non-unix).
    pub fn new(policy: &Policy, compiler: Compiler) -> Result<Self, PolicyError> {
        policy.validate()?;
        let watchdog = match policy.limits.timeout {
            #[cfg(unix)]
            Some(_) => Some(Arc::new(Watchdog::start().map_err(|e| {
                PolicyError::Invalid(format!("cannot start the watchdog: {e}"))
            })?)),
            #[cfg(not(unix))]
            Some(_) => {
                return Err(PolicyError::Invalid(
                    "limits.timeout needs Wasmer's host interrupts, which exist only on unix"
                        .into(),
                ));
            }
            None => None,
        };
        policy.check_host_dirs()?;
        Ok(WasmerRuntime {
            compiler,
            policy: policy.clone(),
            capabilities: Capabilities {
                features: compiler.supported_features(),
                wasi: true,
            },
            watchdog,
            live: LiveSandboxes::default(),
        })
    }

    /// A fresh engine with a fresh Cage middleware: Wasmer middlewares keep per-module state, so
    /// every compiled module gets its own engine.
    fn engine(&self) -> (Engine, Arc<CageMiddleware>) {
        let l = &self.policy.limits;
        let middleware = Arc::new(CageMiddleware::new(&self.policy));
        let meter = middleware.clone();
        let features = wasmer_features(&self.policy, self.compiler);
        let builder = match self.compiler {
            Compiler::Cranelift => {
                let mut c = Cranelift::new();
                c.opt_level(CraneliftOptLevel::Speed);
                c.push_middleware(middleware);
                EngineBuilder::new(c)
            }
            Compiler::Singlepass => {
                let mut c = Singlepass::new();
                c.push_middleware(middleware);
                EngineBuilder::new(c)
            }
        };
        let mut engine: Engine = builder.set_features(Some(features)).engine().into();
        engine.set_tunables(CageTunables::new(
            BaseTunables::for_target(&Target::default()),
            usize::try_from(l.max_stack.bytes()).unwrap_or(usize::MAX),
            l.max_memory.bytes(),
            l.max_table_elements,
        ));
        (engine, meter)
    }
}

/// A module compiled by Wasmer, with its engine and its host functions.
#[derive(Clone)]
pub struct WasmerModule {
    engine: Engine,
    module: Module,
    host: Arc<Vec<HostFunc>>,
    start: Option<Arc<str>>,
    wasi: bool,
    hidden: Arc<HiddenExports>,
}

impl Runtime for WasmerRuntime {
    type Module = WasmerModule;
    type Sandbox = WasmerSandbox;

    fn name(&self) -> &'static str {
        self.compiler.runtime_name()
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn compile(&self, module: &CheckedModule, host: &HostFunctions) -> Result<WasmerModule, Error> {
        let (engine, meter) = self.engine();
        let compiled = catch_unwind(AssertUnwindSafe(|| {
            Module::from_binary(&engine, module.runnable_bytes())
        }))
        .map_err(|_| runtime_panicked("wasmer", "compiling"))?
        .map_err(|e| {
            Error::reject(
                Rejection::Unsupported,
                format!("{} cannot compile this module: {e}", self.name()),
            )
        })?;
        // Fail closed: a module the middleware did not process would run unmetered.
        let hidden = meter.hidden_exports().ok_or_else(|| {
            Error::trap(
                Trap::Other,
                "the metering middleware did not run on this module; refusing to run it unmetered",
            )
        })?;
        let mut imported = host.bind(module.info(), self.capabilities.wasi)?;
        let mut seen = std::collections::BTreeSet::new();
        imported.retain(|f| seen.insert((f.module.clone(), f.name.clone())));
        Ok(WasmerModule {
            engine,
            module: compiled,
            host: Arc::new(imported),
            start: module.start_export().map(Arc::from),
            wasi: module.info().imports_wasi(),
            hidden: Arc::new(hidden),
        })
    }

    fn sandbox(&self, module: &WasmerModule) -> Result<WasmerSandbox, Error> {
        let slot = self.live.acquire(self.policy.limits.max_instances)?;
        let mut store = Store::new(module.engine.clone());
        let env = FunctionEnv::new(&mut store, Env::default());
        let mut imports = Imports::new();
        if module.wasi {
            let ctx = cage_core::wasi::WasiCtx::new(&self.policy)
                .map_err(|e| Error::reject(Rejection::InvalidInvocation, e.to_string()))?;
            env.as_mut(&mut store).wasi = Some(ctx);
        }
        for f in module.host.iter() {
            imports.define(&f.module, &f.name, host::function(&mut store, &env, f)?);
        }
        Ok(WasmerSandbox {
            store,
            module: module.module.clone(),
            start: module.start.clone(),
            hidden: module.hidden.clone(),
            imports,
            env,
            instance: None,
            ready: false,
            fuel: self.policy.limits.fuel,
            stack: usize::try_from(self.policy.limits.max_stack.bytes()).unwrap_or(usize::MAX),
            deadline: self.policy.limits.timeout.zip(self.watchdog.clone()),
            poisoned: false,
            _slot: slot,
        })
    }
}

/// One Wasmer store with one instance. Not `Send`: Wasmer's `Store` must stay on the thread
/// that made it.
pub struct WasmerSandbox {
    store: Store,
    module: Module,
    start: Option<Arc<str>>,
    /// The names of the middleware's exports in this module.
    hidden: Arc<HiddenExports>,
    imports: Imports,
    env: FunctionEnv<Env>,
    instance: Option<Instance>,
    /// False after a trap in the start function: the instance is kept only for its counters.
    ready: bool,
    fuel: Option<u64>,
    stack: usize,
    deadline: Option<(Duration, Arc<Watchdog>)>,
    poisoned: bool,
    _slot: LiveSlot,
}

fn invalid(m: impl Into<String>) -> Error {
    Error::reject(Rejection::InvalidInvocation, m)
}

thread_local! {
    /// The guest stack size Cage last asked Wasmer for on this thread.
    static STACK_SIZE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Wasmer treats its stack size as a minimum and reuses any pooled stack at least that large,
/// so a guest could get the larger stack of an earlier call. When this thread's size changes
/// (or on its first call), Cage empties the pool so the next stack has exactly `max_stack`.
/// Best effort: a stack another thread returns concurrently may still be reused.
fn exact_stack(size: usize) {
    STACK_SIZE.with(|last| {
        if last.get() != size {
            wasmer::sys::vm::drain_stack_pool();
            last.set(size);
        }
    });
}

impl WasmerSandbox {
    /// Runs `f` under the deadline, catching panics, and classifies its failure.
    fn guarded<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Self) -> Result<T, wasmer::RuntimeError>,
    ) -> Result<T, Error> {
        if self.poisoned {
            return Err(invalid("this sandbox was poisoned by a runtime panic"));
        }
        exact_stack(self.stack);
        if let Some((timeout, _)) = &self.deadline {
            let at = std::time::Instant::now() + *timeout;
            self.env.as_mut(&mut self.store).deadline = Some(at);
        }
        let armed = self.deadline.as_ref().map(|(timeout, dog)| {
            #[cfg(unix)]
            let interrupter = self.store.interrupter();
            #[cfg(unix)]
            let interrupt = Box::new(move || interrupter.interrupt());
            #[cfg(not(unix))]
            let interrupt = Box::new(|| {});
            dog.arm(*timeout, interrupt)
        });
        let result = catch_unwind(AssertUnwindSafe(|| f(self)));
        let fired = armed.as_ref().is_some_and(|a| a.fired());
        drop(armed);
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                let err = classify(&e, self.flag());
                // The flag answers for this trap only: a later trap of the guest's own must
                // not read it again.
                self.clear_flag();
                // Wasmer looks up the interrupted instruction's trap code before the interrupt's
                // own: an interrupt landing on a stack check (Singlepass puts one at every call)
                // comes back as a stack overflow. Past the deadline, those are the deadline.
                Err(match err {
                    Error::Trapped {
                        trap: Trap::Other | Trap::StackOverflow,
                        ..
                    } if fired => {
                        Error::trap(Trap::Timeout, "interrupted by host: the deadline passed")
                    }
                    other => other,
                })
            }
            Err(_) => {
                self.poisoned = true;
                Err(runtime_panicked("wasmer", what))
            }
        }
    }

    fn global(&mut self, name: &str) -> Option<wasmer::Value> {
        let g = self
            .instance
            .as_ref()?
            .exports
            .get_global(name)
            .ok()?
            .clone();
        Some(g.get(&mut self.store))
    }

    /// The middleware's flag global: why its own `unreachable` ran (0 = it did not).
    fn flag(&mut self) -> i32 {
        match self.global(&self.hidden.flag()) {
            Some(wasmer::Value::I32(f)) => f,
            _ => 0,
        }
    }

    /// Resets the flag global after a trap was classified.
    fn clear_flag(&mut self) {
        let name = self.hidden.flag();
        if let Some(g) = self
            .instance
            .as_ref()
            .and_then(|i| i.exports.get_global(&name).ok())
            .cloned()
        {
            let _ = g.set(&mut self.store, wasmer::Value::I32(0));
        }
    }
}

impl Sandbox for WasmerSandbox {
    fn instantiate(&mut self) -> Result<(), Error> {
        if self.ready {
            return Ok(());
        }
        if self.instance.is_some() {
            return Err(invalid("the start function trapped; make a new sandbox"));
        }
        let result = self.guarded("instantiating", |s| {
            let instance = match Instance::new(&mut s.store, &s.module, &s.imports) {
                Ok(i) => i,
                Err(wasmer::InstantiationError::Start(e)) => return Err(e),
                Err(wasmer::InstantiationError::Link(wasmer::LinkError::Trap(e))) => {
                    return Err(e);
                }
                // Out of memory or address space while creating memories and tables is
                // the host's limit; anything else is unexpected.
                Err(wasmer::InstantiationError::Link(wasmer::LinkError::Resource(e))) => {
                    return Err(classified(Error::trap(
                        Trap::ResourceLimit,
                        format!("instantiation failed: {e}"),
                    )));
                }
                Err(e) => {
                    return Err(classified(Error::trap(
                        Trap::Other,
                        format!("instantiation failed: {e}"),
                    )));
                }
            };
            let memory = instance.exports.get_memory("memory").ok().cloned();
            let fuel = instance.exports.get_global(&s.hidden.fuel()).ok().cloned();
            let start = match &s.start {
                Some(name) => Some(
                    instance
                        .exports
                        .get_function(name)
                        .map_err(|e| wasmer::RuntimeError::new(e.to_string()))?
                        .clone(),
                ),
                None => None,
            };
            {
                let env = s.env.as_mut(&mut s.store);
                env.memory = memory;
                env.fuel = fuel;
            }
            s.instance = Some(instance);
            match start {
                Some(f) => f.call(&mut s.store, &[]).map(|_| ()),
                None => Ok(()),
            }
        });
        self.ready = result.is_ok();
        result
    }

    fn call(&mut self, export: &str, args: &[Value]) -> Result<Vec<Value>, Error> {
        // Only the function handle is cloned: cloning the instance would copy its export map
        // on every call.
        let func = self
            .instance
            .as_ref()
            .filter(|_| self.ready)
            .ok_or_else(|| invalid("the sandbox is not instantiated"))?
            .exports
            .get_function(export)
            .map_err(|_| invalid(format!("no exported function `{export}`")))?
            .clone();
        let ty = func.ty(&self.store);
        if ty.params().len() != args.len() {
            return Err(invalid(format!(
                "`{export}` takes {} arguments, got {}",
                ty.params().len(),
                args.len()
            )));
        }
        let mut params = Vec::with_capacity(args.len());
        for (a, t) in args.iter().zip(ty.params()) {
            let v = to_val(&mut self.store, a)?;
            if v.ty() != *t {
                return Err(invalid(format!(
                    "argument {a} does not match parameter type {t}"
                )));
            }
            params.push(v);
        }
        let out = self.guarded("calling", |s| func.call(&mut s.store, &params))?;
        Ok(out.iter().map(|v| from_val(&self.store, v)).collect())
    }

    fn exported_state(&mut self) -> cage_core::ExportedState {
        let mut state = cage_core::ExportedState::default();
        // An instance whose start function trapped is kept for its counters only: like
        // Wasmtime's, it has no observable exports.
        let Some(instance) = self.instance.clone().filter(|_| self.ready) else {
            return state;
        };
        for (name, ext) in instance.exports.iter() {
            if self.hidden.is_hidden(name) {
                continue;
            }
            match ext {
                Extern::Global(g) => {
                    let v = g.get(&mut self.store);
                    state
                        .globals
                        .push((name.clone(), from_val(&self.store, &v)));
                }
                Extern::Memory(m) if !m.ty(&self.store).shared => {
                    let bytes = m.view(&self.store).copy_to_vec().unwrap_or_default();
                    state.push_memory(name, &bytes);
                }
                _ => {}
            }
        }
        state
    }

    fn take_output(&mut self) -> cage_core::Output {
        self.env
            .as_mut(&mut self.store)
            .wasi
            .as_mut()
            .map(cage_core::wasi::WasiCtx::take_output)
            .unwrap_or_default()
    }

    fn stats(&mut self) -> Stats {
        let fuel_name = self.hidden.fuel();
        let mut peak = 0;
        let mut fuel_global = None;
        if let Some(i) = &self.instance {
            for (name, ext) in i.exports.iter() {
                match ext {
                    Extern::Memory(m) if self.hidden.is_memory(name) => {
                        peak += m.view(&self.store).data_size();
                    }
                    Extern::Global(g) if *name == fuel_name => fuel_global = Some(g.clone()),
                    _ => {}
                }
            }
        }
        // Like Wasmtime's `get_fuel`: what is left, never below zero (a run may overshoot its
        // budget between checks); without an instance nothing ran.
        let budget = self.fuel.map(|b| b.min(i64::MAX as u64));
        let left = fuel_global.map(|g| match g.get(&mut self.store) {
            wasmer::Value::I64(r) => u64::try_from(r.max(0)).unwrap_or(0),
            _ => 0,
        });
        Stats {
            fuel_consumed: budget.map(|b| b.saturating_sub(left.unwrap_or(b))),
            peak_memory_bytes: peak,
        }
    }
}
