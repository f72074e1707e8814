//! Cage backend for [Wasmer](https://wasmer.io): runtimes `wasmer-cranelift` (alias `wasmer`) and
//! `wasmer-singlepass`.
//!
//! Wasmer lacks some controls Wasmtime has; Cage builds them so the policy means the same thing:
//!
//! | policy | Wasmer mechanism |
//! |---|---|
//! | `fuel` | Cage's own metering middleware (`middleware.rs`) configured from core's cost model: the same costs as Wasmtime, including 1 per function entered and per-byte/per-element bulk costs; exhaustion is told apart from a guest `unreachable` by a flag global |
//! | `timeout` | the middleware checks a stop global at every function entry and loop header (where Wasmtime checks its epoch); a watchdog thread raises it once the call's deadline passed. No signals |
//! | `max_memory`, `max_table_elements` | Cage's `Tunables` (`unsafe_api.rs`) lowering every memory's and table's maximum to the cap |
//! | `trap_on_grow_failure` | the middleware checks the result of `memory.grow`/`table.grow` |
//! | `max_memories`, `max_tables` | core's static check |
//! | `max_instances` | core's live-sandbox counter per runtime |
//! | `max_stack` | `VMConfig::wasm_stack_size` (a minimum: Wasmer may reuse a larger cached stack) |
//! | `[features]` | `wasmer::sys::Features`; what a compiler cannot run is declared in its capabilities |
//!
//! The start function is detached by core and called right after instantiation, so that fuel
//! exhaustion in it is classified like anywhere else and host functions see the guest's memory.
//! The sandbox lifecycle and import resolution are core's ([`cage_core::Runtime`]), WASI is an
//! import provider of its own (`cage-wasi`); this crate supplies the runtime primitives of
//! [`cage_core::backend::Backend`]. `tests/behaviour.rs` runs the behaviour suite (the
//! `cage-behaviour` package) and the corpus on both compilers of this backend alone.
//!
//! Why one file over 800 lines: the backend's primitives (compile, load, store, instantiate,
//! call) and the typed-call glue they share one store type with; the middleware, the host
//! functions, conversions and the `unsafe` calls are their own modules.

mod convert;
mod host;
mod middleware;

mod unsafe_api;
mod watchdog;

pub use host::{HostParams, WasmerHostFn};

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cage_core::backend::{Backend, Store as CageStore, TypedStore};
use cage_core::cache::VerifiedCode;
use cage_core::{
    Capabilities, CheckedModule, Error, ExportedState, Features, HostFailure, HostFunc, HostState,
    Policy, PolicyError, Proposal, Rejection, RuntimeName, Stats, Value,
};
use sha2::{Digest, Sha256};
#[cfg(feature = "singlepass")]
use wasmer::sys::Singlepass;
use wasmer::sys::{
    BaseTunables, CompilerConfig, Cranelift, CraneliftOptLevel, EngineBuilder, NativeEngineExt,
    Target,
};
use wasmer::{Engine, Extern, FunctionEnv, Imports, Instance, Module, Store};

use crate::convert::{classified, classify, from_val, to_val};
use crate::host::Env;
use crate::middleware::{CageMiddleware, HiddenExports};
use crate::unsafe_api::CageTunables;
use crate::watchdog::Watchdog;

/// Which Wasmer compiler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compiler {
    /// Cranelift: optimising, slower to compile.
    Cranelift,
    /// Singlepass: linear-time compilation, slower code, no SIMD, exceptions or wide arithmetic.
    Singlepass,
}

impl Compiler {
    /// The runtime name.
    pub fn runtime_name(self) -> RuntimeName {
        match self {
            Compiler::Cranelift => RuntimeName::WasmerCranelift,
            Compiler::Singlepass => RuntimeName::WasmerSinglepass,
        }
    }

    /// Whether this build has the compiler: Singlepass needs the `singlepass` feature.
    pub fn is_compiled_in(self) -> bool {
        match self {
            Compiler::Cranelift => true,
            Compiler::Singlepass => cfg!(feature = "singlepass"),
        }
    }

    /// The proposals this compiler can run. Neither runs `memory64` (Wasmer 7.3 panics compiling
    /// a 64-bit memory), tail calls (its translator rejects `return_call`), GC, typed function
    /// references, custom page sizes or stack switching.
    pub fn supported_features(self) -> Features {
        let common = Features::WASM2
            .with(Proposal::Threads, true)
            .with(Proposal::MultiMemory, true)
            .with(Proposal::ExtendedConst, true);
        match self {
            Compiler::Cranelift => common
                .with(Proposal::Exceptions, true)
                .with(Proposal::RelaxedSimd, true)
                .with(Proposal::WideArithmetic, true),
            Compiler::Singlepass => common.with(Proposal::Simd, false),
        }
    }
}

/// Wasmer's feature switches for what the policy allows and the compiler supports.
fn wasmer_features(policy: &Policy, compiler: Compiler) -> wasmer::sys::Features {
    let on = policy.features.intersection(&compiler.supported_features());
    let mut f = wasmer::sys::Features::none();
    f.threads = on.contains(Proposal::Threads);
    f.reference_types = on.contains(Proposal::ReferenceTypes);
    f.simd = on.contains(Proposal::Simd);
    f.bulk_memory = on.contains(Proposal::BulkMemory);
    f.multi_value = on.contains(Proposal::MultiValue);
    f.tail_call = on.contains(Proposal::TailCall);
    f.multi_memory = on.contains(Proposal::MultiMemory);
    f.memory64 = false;
    f.exceptions = on.contains(Proposal::Exceptions);
    f.relaxed_simd = on.contains(Proposal::RelaxedSimd);
    f.extended_const = on.contains(Proposal::ExtendedConst);
    f.wide_arithmetic = on.contains(Proposal::WideArithmetic);
    f
}

/// Wasmer configured by one policy, with one compiler: the [`Backend`] of runtimes
/// `wasmer-cranelift` and `wasmer-singlepass`.
pub struct Wasmer {
    compiler: Compiler,
    policy: Policy,
    capabilities: Capabilities,
    watchdog: Option<Arc<Watchdog>>,
}

impl std::fmt::Debug for Wasmer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wasmer")
            .field("compiler", &self.compiler)
            .finish_non_exhaustive()
    }
}

/// Makes the runtime `wasmer-cranelift` or `wasmer-singlepass` configured by `policy`.
///
/// # Errors
/// As [`Wasmer::new`].
pub fn runtime(policy: &Policy, compiler: Compiler) -> Result<cage_core::Runtime<Wasmer>, Error> {
    cage_core::backend::runtime(policy, |policy| Wasmer::new(policy, compiler))
}

impl Wasmer {
    /// Builds a runtime for `policy` (validated by [`cage_core::backend::runtime`]) with
    /// `compiler`.
    ///
    /// # Errors
    /// A compiler not compiled in; a host failure when the watchdog thread cannot start.
    fn new(policy: &Policy, compiler: Compiler) -> Result<Self, Error> {
        if !compiler.is_compiled_in() {
            return Err(PolicyError::Invalid(format!(
                "{} is not compiled in: enable the `singlepass` feature of cage-wasmer \
                 (`wasmer-singlepass` of cage)",
                compiler.runtime_name()
            ))
            .into());
        }
        let watchdog = match policy.limits.timeout {
            Some(t) => Some(Arc::new(Watchdog::start(t)?)),
            None => None,
        };
        Ok(Wasmer {
            compiler,
            policy: policy.clone(),
            capabilities: match compiler {
                // Singlepass's import trampoline handles at most one result.
                // Wasmer 7.3's VM makes only funcref and externref tables ("tables of types
                // other than funcref or externref"), also where it runs exceptions.
                Compiler::Singlepass => Capabilities::new(compiler.supported_features())
                    .without_multi_result_imports()
                    .with_plain_tables_only(),
                Compiler::Cranelift => {
                    Capabilities::new(compiler.supported_features()).with_plain_tables_only()
                }
            },
            watchdog,
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
                c.num_threads(compile_threads());
                c.push_middleware(middleware);
                EngineBuilder::new(c)
            }
            #[cfg(feature = "singlepass")]
            Compiler::Singlepass => {
                let mut c = Singlepass::new();
                c.num_threads(compile_threads());
                c.push_middleware(middleware);
                EngineBuilder::new(c)
            }
            // `new` refuses a compiler that is not compiled in, so no engine is asked of it;
            // Cranelift stands in to keep this total.
            #[cfg(not(feature = "singlepass"))]
            Compiler::Singlepass => {
                let mut c = Cranelift::new();
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
            self.right_sized_style(),
        ));
        (engine, meter)
    }
}

impl Wasmer {
    /// The memory style every memory gets with `limits.memory_reservation = "max_memory"`, or
    /// `None` for Wasmer's own choice (4 GiB static memories).
    fn right_sized_style(&self) -> Option<wasmer::sys::vm::MemoryStyle> {
        (self.policy.limits.memory_reservation == cage_core::policy::MemoryReservation::MaxMemory)
            .then(|| {
                unsafe_api::right_sized_style(
                    self.compiler == Compiler::Cranelift,
                    self.policy.limits.max_memory.bytes(),
                )
            })
    }
}

/// One Wasmer compile at a time in the process (see `compile_code`).
static COMPILING: Mutex<()> = Mutex::new(());

/// The threads a Wasmer compile starts: one per core, at most 8.
fn compile_threads() -> std::num::NonZero<usize> {
    let n = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    std::num::NonZero::new(n.clamp(1, 8)).unwrap_or(std::num::NonZero::<usize>::MIN)
}

/// The exact Wasmer this backend is built against (the workspace pins it; a test checks the
/// two agree). Part of the compiled-module cache key.
pub const WASMER_VERSION: &str = "7.3.0";

/// Code compiled by Wasmer with Cage's middleware, before imports are bound.
#[derive(Clone)]
pub struct WasmerCode {
    engine: Engine,
    module: Module,
    hidden: Arc<HiddenExports>,
}

impl std::fmt::Debug for WasmerCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmerCode").finish_non_exhaustive()
    }
}

/// A module compiled by Wasmer, with its engine and its host functions.
#[derive(Clone)]
pub struct WasmerModule {
    engine: Engine,
    module: Module,
    host: Arc<Vec<HostFunc>>,
    hidden: Arc<HiddenExports>,
}

impl std::fmt::Debug for WasmerModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmerModule").finish_non_exhaustive()
    }
}

impl Backend for Wasmer {
    type Code = WasmerCode;
    type Module = WasmerModule;
    type Store = WasmerStore;

    /// Installs the thread's signal stack before Wasmer's trap handler would (see
    /// `unsafe_api::signal_stack`), so that a thread that once could not get one is not
    /// refused by Wasmer for the rest of its life.
    fn prepare_thread() -> Result<(), Error> {
        unsafe_api::signal_stack::ensure()
    }

    fn name(&self) -> RuntimeName {
        self.compiler.runtime_name()
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn compile_code(&self, module: &CheckedModule) -> Result<WasmerCode, Error> {
        let (engine, meter) = self.engine();
        // Wasmer 7.3 starts a thread pool of its own for every compile: one compile at a time
        // in the process, its threads charged to the process budget while it runs, so that
        // compiles cannot multiply threads (each compile already uses every core).
        let _one = COMPILING.lock().unwrap_or_else(PoisonError::into_inner);
        let _threads = cage_core::budget::reserve(cage_core::budget::Cost::threads(
            compile_threads().get() as u64,
        ))?;
        let compiled = Module::from_binary(&engine, module.runnable_bytes()).map_err(|e| {
            match cage_core::exhausted(&e) {
                Some(what) => Error::host(
                    HostFailure::Resources,
                    format!("{} could not compile this module: {what}: {e}", self.name()),
                ),
                None => Error::reject(
                    Rejection::Unsupported,
                    format!("{} cannot compile this module: {e}", self.name()),
                ),
            }
        })?;
        // Fail closed: a module the middleware did not process would run unmetered.
        let hidden = meter.hidden_exports().ok_or_else(|| {
            Error::host(
                HostFailure::Runtime,
                "the metering middleware did not run on this module; refusing to run it unmetered",
            )
        })?;
        Ok(WasmerCode {
            engine,
            module: compiled,
            hidden: Arc::new(hidden),
        })
    }

    fn link(
        &self,
        code: &WasmerCode,
        _: &CheckedModule,
        imports: &[HostFunc],
    ) -> Result<WasmerModule, Error> {
        Ok(WasmerModule {
            engine: code.engine.clone(),
            module: code.module.clone(),
            host: Arc::new(imports.to_vec()),
            hidden: code.hidden.clone(),
        })
    }

    fn code_fingerprint(&self) -> Vec<u8> {
        let (engine, _) = self.engine();
        let target = Target::default();
        let mut fp = format!(
            "wasmer {WASMER_VERSION}; compiler {}; {}; cpu {:?}; middleware ",
            engine.deterministic_id(),
            target.triple(),
            target.cpu_features(),
        )
        .into_bytes();
        // Cage's own code transformation and memory set-up: their source, so that no change to
        // them can load code built by an older Cage.
        let mut h = Sha256::new();
        h.update(include_str!("middleware.rs"));
        h.update(include_str!("unsafe_api.rs"));
        fp.extend_from_slice(&h.finalize());
        fp
    }

    fn serialize_code(&self, code: &WasmerCode) -> Result<Vec<u8>, Error> {
        let module = code.module.serialize().map_err(|e| {
            Error::host(
                HostFailure::Runtime,
                format!("{} cannot serialize this module: {e}", self.name()),
            )
        })?;
        let prefix = code.hidden.prefix.as_bytes();
        let mut out = Vec::with_capacity(4 + prefix.len() + module.len());
        out.extend_from_slice(&(prefix.len() as u32).to_le_bytes());
        out.extend_from_slice(prefix);
        out.extend_from_slice(&module);
        Ok(out)
    }

    fn deserialize_code(&self, code: &VerifiedCode) -> Result<WasmerCode, Error> {
        let bytes = code.bytes();
        let refused = |why: &str| {
            Error::host(
                HostFailure::Runtime,
                format!("{} refused cached code: {why}", self.name()),
            )
        };
        let len = bytes
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(|b| u32::from_le_bytes(b) as usize)
            .ok_or_else(|| refused("no prefix"))?;
        let prefix = bytes
            .get(4..4 + len)
            .and_then(|p| std::str::from_utf8(p).ok())
            .ok_or_else(|| refused("bad prefix"))?;
        let (engine, _) = self.engine();
        let module = unsafe_api::deserialize(&engine, &bytes[4 + len..], code)
            .map_err(|e| refused(&e.to_string()))?;
        Ok(WasmerCode {
            engine,
            module,
            hidden: Arc::new(HiddenExports::from_prefix(prefix)),
        })
    }

    fn sandbox_cost(&self, module: &CheckedModule) -> cage_core::budget::Cost {
        // What Wasmer's tunables reserve for each defined memory: a static memory its bound
        // plus its guard, a dynamic one its maximum plus its guard; two mappings each (the
        // accessible pages and the rest).
        let base = BaseTunables::for_target(&Target::default());
        let cap = self.policy.limits.max_memory.bytes();
        let mut bytes = 0u64;
        let mut maps = 0u64;
        for m in module.info().memories.iter().filter(|m| !m.imported) {
            let pages = |b: u64| u32::try_from(b / 65_536).unwrap_or(u32::MAX);
            let ty = wasmer::MemoryType::new(
                pages(m.initial_bytes),
                m.maximum_bytes.map(pages),
                m.shared,
            );
            use wasmer::sys::Tunables as _;
            let style = self
                .right_sized_style()
                .unwrap_or_else(|| base.memory_style(&ty));
            bytes += match style {
                wasmer::sys::vm::MemoryStyle::Static {
                    bound,
                    offset_guard_size,
                } => u64::from(bound.0) * 65_536 + offset_guard_size,
                wasmer::sys::vm::MemoryStyle::Dynamic { offset_guard_size } => {
                    cap.saturating_add(offset_guard_size)
                }
            };
            maps += 2;
        }
        cage_core::budget::Cost::sandbox(bytes, maps)
    }

    fn code_cost(&self, _: &CheckedModule) -> cage_core::budget::Cost {
        // Measured (`--example code_cost`): about 2 mappings per module (code, read-only data),
        // plus one of margin.
        cage_core::budget::Cost::reservation(0, 3)
    }

    fn store(&self, module: &WasmerModule, mut host: HostState) -> Result<WasmerStore, Error> {
        cage_core::backend::set_clock(&mut host, self.watchdog.as_ref().map(|w| w.clock().clone()));
        let mut store = Store::new(module.engine.clone());
        let env = FunctionEnv::new(
            &mut store,
            Env {
                memory: None,
                fuel: None,
                host,
            },
        );
        let mut imports = Imports::new();
        for f in module.host.iter() {
            imports.define(&f.module, &f.name, host::function(&mut store, &env, f)?);
        }
        let deadline = match (self.policy.limits.timeout, &self.watchdog) {
            (Some(timeout), Some(watchdog)) => Some(Deadline {
                timeout,
                slot: watchdog.slot(),
                watchdog: watchdog.clone(),
            }),
            _ => None,
        };
        Ok(WasmerStore {
            store,
            hosted: !module.host.is_empty(),
            module: module.module.clone(),
            hidden: module.hidden.clone(),
            imports,
            env,
            instance: None,
            fuel: self.policy.limits.fuel,
            stack: usize::try_from(self.policy.limits.max_stack.bytes()).unwrap_or(usize::MAX),
            deadline,
            params: Vec::new(),
        })
    }
}

/// A store's deadline: the policy's timeout, the runtime's watchdog and the store's slot in it.
struct Deadline {
    timeout: Duration,
    watchdog: Arc<Watchdog>,
    slot: Arc<watchdog::Slot>,
}

/// One Wasmer store with (at most) one instance. Not `Send`: Wasmer's `Store` must stay on the
/// thread that made it.
pub struct WasmerStore {
    store: Store,
    /// The module imports host functions (which read the call's deadline from the host state).
    hosted: bool,
    module: Module,
    /// The names of the middleware's exports in this module.
    hidden: Arc<HiddenExports>,
    imports: Imports,
    env: FunctionEnv<Env>,
    instance: Option<Instance>,
    fuel: Option<u64>,
    stack: usize,
    deadline: Option<Deadline>,
    /// The argument buffer, reused across calls.
    params: Vec<wasmer::Value>,
}

impl std::fmt::Debug for WasmerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmerStore").finish_non_exhaustive()
    }
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

impl WasmerStore {
    /// Runs `f` under the deadline and classifies its failure.
    #[inline]
    fn guarded<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, wasmer::RuntimeError>,
    ) -> Result<T, Error> {
        exact_stack(self.stack);
        // The deadline is taken out for the call (no reference count to touch) and put back.
        let deadline = self.deadline.take();
        let hosted = self.hosted;
        let armed = deadline.as_ref().map(|d| {
            let (armed, deadline) = d.watchdog.arm(&d.slot, d.timeout);
            // Only host functions read it.
            if hosted {
                cage_core::backend::set_deadline(
                    &mut self.env.as_mut(&mut self.store).host,
                    Some(deadline),
                );
            }
            armed
        });
        let result = f(self);
        drop(armed);
        self.deadline = deadline;
        result.map_err(|e| {
            let err = classify(&e, self.flag());
            // The flag answers for this trap only: a later trap of the guest's own must not
            // read it again.
            self.clear_flag();
            err
        })
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
        let hidden = self.hidden.clone();
        match self.global(hidden.flag()) {
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
            .and_then(|i| i.exports.get_global(name).ok())
            .cloned()
        {
            let _ = g.set(&mut self.store, wasmer::Value::I32(0));
        }
    }
}

impl CageStore for WasmerStore {
    type Func = wasmer::Function;

    fn instantiate(&mut self) -> Result<(), Error> {
        // One instance per store, whoever asks (the store is reachable through
        // `cage_core::backend::store_of`): a second one would be outside the budget and the
        // deadline's hook.
        if self.instance.is_some() {
            return Err(Error::reject(
                Rejection::InvalidInvocation,
                "this store is already instantiated",
            ));
        }
        self.guarded(|s| {
            let instance = match Instance::new(&mut s.store, &s.module, &s.imports) {
                Ok(i) => i,
                Err(wasmer::InstantiationError::Start(e)) => return Err(e),
                Err(wasmer::InstantiationError::Link(wasmer::LinkError::Trap(e))) => {
                    return Err(e);
                }
                // Out of memory or address space while creating memories and tables is the
                // host's limit; anything else is unexpected.
                Err(wasmer::InstantiationError::Link(wasmer::LinkError::Resource(e))) => {
                    return Err(classified(Error::host(
                        HostFailure::Resources,
                        format!("instantiation failed: {e}"),
                    )));
                }
                Err(e) => {
                    let failure = match cage_core::exhausted(&e) {
                        Some(_) => HostFailure::Resources,
                        None => HostFailure::Runtime,
                    };
                    return Err(classified(Error::host(
                        failure,
                        format!("instantiation failed: {e}"),
                    )));
                }
            };
            let memory = instance.exports.get_memory("memory").ok().cloned();
            let fuel = instance.exports.get_global(s.hidden.fuel()).ok().cloned();
            {
                let env = s.env.as_mut(&mut s.store);
                env.memory = memory;
                env.fuel = fuel;
            }
            s.instance = Some(instance);
            Ok(())
        })?;
        // Outside `guarded`, which takes the deadline out for the call.
        if let (Some(d), Some(instance)) = (&self.deadline, &self.instance) {
            // Fail closed: without its stop global the deadline could not be enforced.
            let stop = instance
                .exports
                .get_global(self.hidden.stop())
                .map_err(|_| {
                    Error::host(
                        HostFailure::Runtime,
                        "the module has no stop global: the deadline cannot be enforced",
                    )
                })?;
            d.slot.cell.attach(&mut self.store, stop);
            if !d.slot.cell.is_attached() {
                return Err(Error::host(
                    HostFailure::Runtime,
                    "the stop global has no cell: the deadline cannot be enforced",
                ));
            }
        }
        Ok(())
    }

    fn func(&mut self, name: &str) -> Option<wasmer::Function> {
        if self.hidden.is_hidden(name) {
            return None;
        }
        self.instance
            .as_ref()?
            .exports
            .get_function(name)
            .ok()
            .cloned()
    }

    fn call(
        &mut self,
        func: &wasmer::Function,
        args: &[Value],
        results: &mut [Value],
    ) -> Result<(), Error> {
        // No check against the signature here: Wasmer's `Function::call` checks the arguments
        // itself (a mismatch is its error, `trapped: other`, and nothing runs), and a check of
        // Cage's reads the function's type on every call: 110 ns, +55 % on an untyped call
        // (2026-12-03). Result slots are filled as far as both go. Core's sandbox checks both
        // before it calls; `cage/tests/backend_contract.rs` lists what Wasmer answers instead.
        self.params.clear();
        for a in args {
            let v = to_val(&mut self.store, a)?;
            self.params.push(v);
        }
        let params = std::mem::take(&mut self.params);
        let out = self.guarded(|s| func.call(&mut s.store, &params));
        self.params = params;
        for (slot, v) in results.iter_mut().zip(out?.iter()) {
            *slot = from_val(&self.store, v);
        }
        Ok(())
    }

    fn exported_state(&mut self) -> ExportedState {
        let mut state = ExportedState::default();
        let Some(instance) = self.instance.clone() else {
            return state;
        };
        for (name, ext) in instance.exports.iter() {
            if self.hidden.is_hidden(name) {
                continue;
            }
            match ext {
                Extern::Global(g) => {
                    let v = g.get(&mut self.store);
                    state.push_global(name, from_val(&self.store, &v));
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

    fn host_state(&mut self) -> &mut HostState {
        &mut self.env.as_mut(&mut self.store).host
    }

    fn fuel(&mut self) -> Option<u64> {
        self.fuel?;
        let hidden = self.hidden.clone();
        match self.global(hidden.fuel())? {
            wasmer::Value::I64(left) => Some(u64::try_from(left).unwrap_or(0)),
            _ => None,
        }
    }

    fn set_fuel(&mut self, fuel: u64) -> Result<(), Error> {
        let global = self
            .instance
            .as_ref()
            .and_then(|i| i.exports.get_global(self.hidden.fuel()).ok())
            .cloned()
            .ok_or_else(|| Error::host(HostFailure::Runtime, "the module has no fuel global"))?;
        // The saved counter: every function entry loads the working one from it.
        let value = wasmer::Value::I64(i64::try_from(fuel).unwrap_or(i64::MAX));
        global
            .set(&mut self.store, value)
            .map_err(|e| Error::host(HostFailure::Runtime, format!("cannot set fuel: {e}")))
    }

    fn stats(&mut self) -> Stats {
        let fuel_name = self.hidden.fuel();
        let mut peak = 0;
        let mut peak_table = 0u64;
        let mut fuel_global = None;
        if let Some(i) = &self.instance {
            for (name, ext) in i.exports.iter() {
                match ext {
                    Extern::Memory(m) if self.hidden.is_memory(name) => {
                        peak += m.view(&self.store).data_size();
                    }
                    // Tables never shrink: the size now is the largest reached.
                    Extern::Table(t) if self.hidden.is_table(name) => {
                        peak_table = peak_table.max(u64::from(t.size(&self.store)));
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
        Stats::new(budget.map(|b| b.saturating_sub(left.unwrap_or(b))), peak)
            .with_peak_table_elements(peak_table)
    }
}

/// Cage's typed results as Wasmer's: Wasmer spells one value `T`, not `(T,)`.
pub trait WasmerResults: cage_core::WasmResults {
    /// Wasmer's type for these results.
    type Native: wasmer::WasmTypeList + Clone;
    /// Converts Wasmer's results.
    fn from_native(n: Self::Native) -> Self;
    /// Converts to Wasmer's results.
    fn into_native(self) -> Self::Native;
}

macro_rules! single_results {
    ($($t:ty),*) => {$(
        impl WasmerResults for $t {
            type Native = $t;
            fn from_native(n: $t) -> $t {
                n
            }
            fn into_native(self) -> $t {
                self
            }
        }
    )*};
}
single_results!(i32, i64, f32, f64);

impl WasmerResults for () {
    type Native = ();
    fn from_native(_: ()) {}
    fn into_native(self) {}
}

impl<A: cage_core::WasmTy + wasmer::FromToNativeWasmType> WasmerResults for (A,) {
    type Native = A;
    fn from_native(n: A) -> (A,) {
        (n,)
    }
    fn into_native(self) -> A {
        self.0
    }
}

/// Results of two values and more are Wasmer's tuples as they are (`()` and `(A,)` above).
macro_rules! tuple_results {
    ($(($($t:ident),*))*) => {$( tuple_results!(@one $($t),*); )*};
    (@one) => {};
    (@one $a:ident) => {};
    (@one $($t:ident),+) => {
        impl<$($t: cage_core::WasmTy + wasmer::FromToNativeWasmType),*> WasmerResults for ($($t,)*) {
            type Native = ($($t,)*);
            fn from_native(n: Self::Native) -> Self {
                n
            }
            fn into_native(self) -> Self::Native {
                self
            }
        }
    };
}
cage_core::for_each_arity!(tuple_results);

/// Wasmer's parameter type for a tuple of arguments: `()`, the one type, or the tuple.
macro_rules! native_params {
    () => { () };
    ($a:ident) => { $a };
    ($($t:ident),+) => { ($($t),+) };
}

macro_rules! typed_calls {
    ($(($($t:ident),*))*) => {$(
        impl<$($t,)* R> TypedStore<($($t,)*), R> for WasmerStore
        where
            $($t: cage_core::WasmTy + wasmer::FromToNativeWasmType,)*
            R: WasmerResults,
        {
            type Typed = wasmer::TypedFunction<native_params!($($t),*), R::Native>;

            fn typed(&mut self, func: &wasmer::Function) -> Result<Self::Typed, Error> {
                func.typed(&self.store).map_err(|e| {
                    Error::host_from(
                        HostFailure::Runtime,
                        "wasmer refused a signature core had checked",
                        e,
                    )
                })
            }

            #[inline]
            #[allow(non_snake_case)]
            fn call_typed(&mut self, func: &Self::Typed, args: ($($t,)*)) -> Result<R, Error> {
                let ($($t,)*) = args;
                self.guarded(|s| func.call(&mut s.store, $($t),*))
                    .map(R::from_native)
            }
        }
    )*};
}
cage_core::for_each_arity!(typed_calls);

#[cfg(test)]
mod tests {
    /// Without the `singlepass` feature (`cargo test -p cage-wasmer`, off by default), the
    /// BUSL-licensed compiler is absent and asking for it is a typed error, never a silent
    /// Cranelift.
    #[test]
    fn singlepass_is_there_exactly_when_its_feature_is() {
        use super::Compiler;
        let policy = cage_core::Policy::default();
        let made = super::runtime(&policy, Compiler::Singlepass);
        assert_eq!(
            Compiler::Singlepass.is_compiled_in(),
            cfg!(feature = "singlepass")
        );
        if cfg!(feature = "singlepass") {
            assert!(made.is_ok());
        } else {
            let e = made.expect_err("refused").to_string();
            assert!(
                e.contains("not compiled in") && e.contains("singlepass"),
                "{e}"
            );
        }
    }
}
