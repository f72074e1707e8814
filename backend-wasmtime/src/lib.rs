//! Cage backend for [Wasmtime](https://wasmtime.dev): runtime name `wasmtime`.
//!
//! How each policy setting is enforced:
//!
//! | policy | Wasmtime mechanism |
//! |---|---|
//! | `fuel` | `Config::consume_fuel`, `Config::operator_cost` from core's [`CostModel`], `Store::set_fuel` |
//! | `timeout` | `Config::epoch_interruption`, one ticker thread per engine, per-store `set_epoch_deadline` |
//! | `max_memory`, `max_table_elements`, `trap_on_grow_failure` | Cage's `ResourceLimiter` |
//! | `max_memories`, `max_tables` | core's static check, and the limiter's counts |
//! | `max_instances` | core's live-sandbox counter per runtime |
//! | `max_stack` | `Config::max_wasm_stack` |
//! | instantiation | the pooling allocator sized from `max_instances`, `max_memories`, `max_tables`, `max_table_elements` when it fits (see [`Allocator`]), else on demand |
//! | `[features]` | `Config::wasm_features`; `threads` also gates `Config::shared_memory` |
//!
//! Every `wasmtime::Trap` maps onto Cage's taxonomy (see `convert.rs`). The sandbox lifecycle
//! and import resolution are core's ([`cage_core::Runtime`]), WASI is an import provider of its
//! own (`cage-wasi`); this crate supplies the runtime primitives of
//! [`cage_core::backend::Backend`]. `tests/behaviour.rs` runs the behaviour suite (the
//! `cage-behaviour` package) and the corpus on this backend alone.
//!
//! Why one file over 800 lines: the engine's configuration from the policy and the backend's
//! primitives (compile, load, store, instantiate, call, and their async twins) share one store
//! type and its data; the host functions, the limiter, the pool, the deadline ticker,
//! conversions and the `unsafe` calls are their own modules.
//!
//! ```
//! let policy = cage_core::Policy::default().with_fuel(Some(1_000));
//! let rt = cage_wasmtime::runtime(&policy).unwrap();
//! // (module (func (export "spin") (loop br 0)))
//! let wasm = [0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 7, 8, 1, 4, 115, 112,
//!     105, 110, 0, 0, 10, 9, 1, 7, 0, 3, 64, 12, 0, 11, 11];
//! let module = rt.compile(&wasm, &cage_core::HostFunctions::new()).unwrap();
//! let mut sandbox = module.sandbox().unwrap();
//! sandbox.instantiate().unwrap();
//! let e = sandbox.call("spin", &[]).unwrap_err();
//! assert_eq!(e.as_trap(), Some(cage_core::Trap::OutOfFuel));
//! ```

mod convert;
mod host;
mod limiter;
mod pool;
mod ticker;
mod unsafe_api;

pub use host::{HostParams, HostResults, WasmtimeHostFn};
pub use pool::{ADDRESS_SPACE_BUDGET, Allocator};
pub use unsafe_api::WasmtimeFunc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cage_core::backend::{Backend, Pacer, Store as CageStore, TypedStore};
use cage_core::cache::VerifiedCode;
use cage_core::{
    Capabilities, CheckedModule, CostModel, Error, ExportedState, Features, HostFailure, HostFunc,
    HostState, Policy, PolicyError, Proposal, Rejection, RuntimeName, Stats, Value, WasmParams,
    WasmResults,
};
use sha2::{Digest, Sha256};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, OptLevel, Store, WasmFeatures,
};

#[cfg(feature = "async")]
use crate::convert::to_val;
use crate::convert::{classify, from_val};
use crate::limiter::Limiter;

/// Wasmtime compiles on rayon's process-wide pool (one thread per core), started by the first
/// compile and kept for the life of the process: charged to the process budget once, before
/// that first compile.
fn compile_threads() -> Result<(), Error> {
    static POOL: std::sync::Mutex<Option<cage_core::budget::Reservation>> =
        std::sync::Mutex::new(None);
    let mut held = POOL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if held.is_none() {
        let n = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        *held = Some(cage_core::budget::reserve(
            cage_core::budget::Cost::threads(n as u64),
        )?);
    }
    Ok(())
}

/// Mappings charged per compiled module: measured about 2 (code, read-only data), plus one of
/// margin.
const CODE_MAPPINGS: u64 = 3;

/// The exact Wasmtime this backend is built against (the workspace pins it; a test checks
/// the two agree). Part of the compiled-module cache key.
pub const WASMTIME_VERSION: &str = "48.0.8";

/// A `Hasher` that feeds SHA-256, for Wasmtime's compatibility `Hash`.
struct Sha256Hasher(Sha256);

impl std::hash::Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        // Only the SHA-256 is used.
        0
    }
}

/// Per-store state.
pub(crate) struct StoreData {
    limiter: Limiter,
    /// The current call's deadline, judged at each epoch tick.
    deadline: ticker::Deadline,
    /// The sandbox's host state (deadline, WASI, the application's data).
    pub(crate) host: HostState,
    /// The instance's memory exported as `memory`, which host functions read and write: found
    /// once at instantiation (as Wasmer's backend does), so that a host function the guest
    /// re-exports and the application calls directly sees the same memory as when the guest
    /// calls it.
    pub(crate) memory: Option<wasmtime::Memory>,
}

/// The proposals this backend can run: WebAssembly 3.0 plus wide arithmetic and custom page
/// sizes. (Stack switching needs a Wasmtime build feature Cage does not enable.)
pub fn supported_features() -> Features {
    let wasm3 = Features::WASM3_NO_THREADS.with(Proposal::Threads, true);
    wasm3
        .with(Proposal::WideArithmetic, true)
        .with(Proposal::CustomPageSizes, true)
}

/// Wasmtime's feature set for `features`.
fn wasm_features(features: &Features) -> WasmFeatures {
    features
        .iter()
        .filter_map(|p| WasmFeatures::from_name(p.wasmparser_name()))
        .fold(WasmFeatures::empty(), |a, b| a | b)
}
macro_rules! operator_costs {
    ($(@$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        /// Wasmtime's cost table filled from core's cost model.
        fn operator_cost(model: &CostModel) -> wasmtime::OperatorCost {
            let mut c = wasmtime::OperatorCost::new();
            $( c.$op = model.cost_by_name(stringify!($op)); )*
            let v = &model.variable;
            c.variable.memory_copy_per_byte = v.memory_copy_per_byte;
            c.variable.memory_fill_per_byte = v.memory_fill_per_byte;
            c.variable.memory_init_per_byte = v.memory_init_per_byte;
            c.variable.memory_grow_per_page = v.memory_grow_per_page;
            c.variable.table_copy_per_element = v.table_copy_per_element;
            c.variable.table_fill_per_element = v.table_fill_per_element;
            c.variable.table_init_per_element = v.table_init_per_element;
            c.variable.table_grow_per_element = v.table_grow_per_element;
            c.variable.array_copy_per_element = v.array_copy_per_element;
            c.variable.array_fill_per_element = v.array_fill_per_element;
            c.variable.array_new_data_per_element = v.array_new_data_per_element;
            c.variable.array_init_data_per_element = v.array_init_data_per_element;
            c.variable.array_new_elem_per_element = v.array_new_elem_per_element;
            c.variable.array_init_elem_per_element = v.array_init_elem_per_element;
            c.variable.array_new_default_per_element = v.array_new_default_per_element;
            c.variable.array_new_per_element = v.array_new_per_element;
            c
        }
    };
}
wasmparser::for_each_operator!(operator_costs);

fn config(policy: &Policy) -> Config {
    let l = &policy.limits;
    let mut c = Config::new();
    c.cranelift_opt_level(OptLevel::Speed);
    c.parallel_compilation(true);
    c.consume_fuel(l.fuel.is_some());
    if l.fuel.is_some() && !policy.costs.is_default() {
        c.operator_cost(operator_cost(&policy.costs));
    }
    // Deadline checks are compiled in only with a timeout; async calls yield at the same
    // checks (`limits.yield_interval`). A runtime without a timeout compiles exactly what
    // Wasmtime would, whatever Cage's features: its async guests run to the end once polled.
    c.epoch_interruption(l.timeout.is_some());
    let stack = usize::try_from(l.max_stack.bytes()).unwrap_or(usize::MAX);
    c.max_wasm_stack(stack);
    // The stack of an async call's fiber (feature `async`): the guest's `max_stack` plus the
    // host's margin, as a guest thread has. Wasmtime insists on it being at least as large
    // even without the feature; it is reserved only for async calls.
    c.async_stack_size(stack.saturating_add(cage_core::backend::HOST_STACK_MARGIN));
    let enabled = wasm_features(&policy.features.intersection(&supported_features()));
    c.wasm_features(WasmFeatures::all(), false);
    c.wasm_features(enabled, true);
    c.shared_memory(enabled.contains(WasmFeatures::THREADS));
    // Relaxed SIMD gives the same answers on every host, so runtimes can be compared.
    c.relaxed_simd_deterministic(true);
    // `limits.memory_reservation`: with `max_memory`, each memory reserves only what the
    // policy lets it reach (plus a small guard), and Cranelift compiles bounds checks.
    if l.memory_reservation == cage_core::policy::MemoryReservation::MaxMemory {
        let (reservation, guard) = pool::memory_layout(policy);
        c.memory_reservation(reservation);
        c.memory_guard_size(guard);
        c.memory_reservation_for_growth(0);
        c.guard_before_linear_memory(false);
        // Data segments copied at instantiation rather than mapped copy-on-write from an
        // image: one mapping less per live memory (2 instead of 3), which is what bounds how
        // many small sandboxes a process holds (`vm.max_map_count`).
        c.memory_init_cow(false);
    }
    c
}

/// Wasmtime configured by one policy: the [`Backend`] of runtime `wasmtime`. Cheap to share:
/// compile once, make many sandboxes.
pub struct Wasmtime {
    engine: Engine,
    allocator: Allocator,
    /// The pool's share of the process budget, returned when the runtime is dropped.
    _pool_reservation: Option<cage_core::budget::Reservation>,
    /// The pool's touched slots, charged as they are touched (held by every store too).
    slots: Option<Arc<pool::Slots>>,
    policy: Policy,
    capabilities: Capabilities,
    pacer: Option<Arc<Pacer>>,
}

impl std::fmt::Debug for Wasmtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wasmtime").finish_non_exhaustive()
    }
}

/// Makes the runtime `wasmtime` configured by `policy`.
///
/// # Errors
/// As [`Wasmtime::new`].
pub fn runtime(policy: &Policy) -> Result<cage_core::Runtime<Wasmtime>, Error> {
    cage_core::backend::runtime(policy, Wasmtime::new)
}

impl Wasmtime {
    /// Builds an engine for `policy`.
    ///
    /// # Errors
    /// A combination Wasmtime refuses (the error says which); a host
    /// failure when the deadline thread cannot start.
    fn new(policy: &Policy) -> Result<Self, Error> {
        // The pool's reservation comes out of the process budget; a pool that does not fit
        // there, or that the host refuses (`vm.overcommit_memory = 2`, `ulimit -v`), gives way
        // to the on-demand allocator: the pool is speed, not a limit.
        let pooled = pool::config(policy).ok().and_then(|pool| {
            let reserved = cage_core::budget::reserve(cage_core::budget::Cost::reservation(
                pool::reservation(policy),
                4 + pool::stack_mappings(policy),
            ))
            .ok()?;
            let mut c = config(policy);
            c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
            Engine::new(&c).ok().map(|e| (e, reserved))
        });
        let (engine, allocator, pool_reservation) = match pooled {
            Some((engine, reserved)) => (engine, Allocator::Pooling, Some(reserved)),
            None => {
                let engine = Engine::new(&config(policy)).map_err(|e| {
                    Error::Policy(PolicyError::Invalid(format!(
                        "wasmtime refuses this policy: {e:#}"
                    )))
                })?;
                (engine, Allocator::OnDemand, None)
            }
        };
        let pacer = match ticker::period(policy) {
            Some(period) => Some(Arc::new(ticker::pacer(&engine, period)?)),
            None => None,
        };
        let capabilities = Capabilities::new(supported_features());
        #[cfg(feature = "async")]
        let capabilities = capabilities.with_native_async();
        Ok(Wasmtime {
            slots: (allocator == Allocator::Pooling).then(|| Arc::new(pool::Slots::new(policy))),
            engine,
            allocator,
            _pool_reservation: pool_reservation,
            policy: policy.clone(),
            capabilities,
            pacer,
        })
    }

    /// The instance allocator this runtime uses (see [`Allocator`]).
    pub fn allocator(&self) -> Allocator {
        self.allocator
    }

    /// Why the pooling allocator is not used for `policy`, or `None` when it fits (the host may
    /// still refuse its reservation; [`Wasmtime::allocator`] says what was used).
    pub fn pooling_refused(policy: &Policy) -> Option<&'static str> {
        pool::config(policy).err()
    }

    /// The underlying engine, for embedders that need more than Cage offers.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// A module compiled by Wasmtime with its imports bound.
#[derive(Clone)]
pub struct WasmtimeModule {
    pres: Arc<Pres>,
}

/// What a module's stores instantiate, shared by them: each store holds one reference to it
/// (one atomic count per sandbox, where cloning both `InstancePre`s cost six, on reference
/// counts every thread making sandboxes of the module touches).
struct Pres {
    pre: InstancePre<StoreData>,
    /// For async instances (feature `async`): async host functions linked as Wasmtime async
    /// functions (the same as `pre` when the module imports none).
    #[cfg(feature = "async")]
    pre_async: InstancePre<StoreData>,
}

impl std::fmt::Debug for WasmtimeModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmtimeModule").finish_non_exhaustive()
    }
}

impl Backend for Wasmtime {
    type Code = wasmtime::Module;
    type Module = WasmtimeModule;
    type Store = WasmtimeStore;

    fn name(&self) -> RuntimeName {
        RuntimeName::Wasmtime
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn compile_code(&self, module: &CheckedModule) -> Result<wasmtime::Module, Error> {
        compile_threads()?;
        wasmtime::Module::new(&self.engine, module.runnable_bytes()).map_err(|e| {
            // Out of memory, mappings or threads is the host's failure, not the module's.
            match cage_core::exhausted(e.as_ref()) {
                Some(what) => Error::host(
                    HostFailure::Resources,
                    format!("wasmtime could not compile this module: {what}: {e:#}"),
                ),
                None => Error::reject(
                    Rejection::Unsupported,
                    format!("wasmtime cannot compile this module: {e:#}"),
                ),
            }
        })
    }

    fn link(
        &self,
        code: &wasmtime::Module,
        _: &CheckedModule,
        imports: &[HostFunc],
    ) -> Result<WasmtimeModule, Error> {
        let mut linker = Linker::new(&self.engine);
        let metered = self.policy.limits.fuel.is_some();
        for f in imports {
            host::define(&mut linker, f, metered).map_err(|e| {
                Error::reject(
                    Rejection::UnresolvedImport,
                    format!("cannot define {}.{}: {e:#}", f.module, f.name),
                )
            })?;
        }
        let pre = linker
            .instantiate_pre(code)
            .map_err(|e| Error::reject(Rejection::UnresolvedImport, format!("{e:#}")))?;
        #[cfg(feature = "async")]
        let pre_async = if imports.iter().any(HostFunc::is_async) {
            let mut linker = Linker::new(&self.engine);
            for f in imports {
                host::define_async(&mut linker, f, metered).map_err(|e| {
                    Error::reject(
                        Rejection::UnresolvedImport,
                        format!("cannot define {}.{}: {e:#}", f.module, f.name),
                    )
                })?;
            }
            linker
                .instantiate_pre(code)
                .map_err(|e| Error::reject(Rejection::UnresolvedImport, format!("{e:#}")))?
        } else {
            pre.clone()
        };
        Ok(WasmtimeModule {
            pres: Arc::new(Pres {
                pre,
                #[cfg(feature = "async")]
                pre_async,
            }),
        })
    }

    fn code_fingerprint(&self) -> Vec<u8> {
        use std::hash::Hash;
        let mut h = Sha256Hasher(Sha256::new());
        self.engine.precompile_compatibility_hash().hash(&mut h);
        let mut fp = format!("wasmtime {WASMTIME_VERSION}; engine ").into_bytes();
        fp.extend_from_slice(&h.0.finalize());
        fp
    }

    fn serialize_code(&self, code: &wasmtime::Module) -> Result<Vec<u8>, Error> {
        code.serialize().map_err(|e| {
            Error::host(
                HostFailure::Runtime,
                format!("wasmtime cannot serialize this module: {e:#}"),
            )
        })
    }

    fn deserialize_code(&self, code: &VerifiedCode) -> Result<wasmtime::Module, Error> {
        unsafe_api::deserialize(&self.engine, code)
    }

    fn sandbox_cost(&self, module: &CheckedModule) -> cage_core::budget::Cost {
        let memories = module
            .info()
            .memories
            .iter()
            .filter(|m| !m.imported)
            .count() as u64;
        if self.allocator == Allocator::Pooling {
            // The address space was reserved with the pool, when the runtime was made; the
            // mappings its slots split off are charged as slots are touched (`pool::Slots`),
            // and stay charged while the pool lives.
            return cage_core::budget::Cost::sandbox(0, 0);
        }
        let (bytes, maps) = pool::on_demand_memory(&self.policy);
        cage_core::budget::Cost::sandbox(memories * bytes, memories * maps)
    }

    fn code_cost(&self, module: &CheckedModule) -> cage_core::budget::Cost {
        // Measured (`--example code_cost`): about 2 mappings per module (code, read-only
        // data); one descriptor per module whose memory has a copy-on-write image (a memfd,
        // made at its first instantiation) with `memory_reservation = "full"`.
        let images = self.policy.limits.memory_reservation
            == cage_core::policy::MemoryReservation::Full
            && module.info().memories.iter().any(|m| !m.imported);
        cage_core::budget::Cost::reservation(0, CODE_MAPPINGS).with_descriptors(u64::from(images))
    }

    #[cfg(feature = "async")]
    fn async_stack_cost(&self) -> cage_core::budget::Cost {
        if self.allocator == Allocator::Pooling {
            // Reserved with the pool, one per instance (`pool::reservation`).
            return cage_core::budget::Cost::default();
        }
        // Wasmtime maps a fiber stack and its guard page at the first async call and keeps it
        // for the store's life: two mappings (the guard's protection splits the mapping).
        cage_core::budget::Cost::reservation(pool::async_stack_bytes(&self.policy), 2)
    }

    #[cfg(feature = "async")]
    fn into_native_async(
        sandbox: cage_core::Sandbox<Self>,
    ) -> Result<Box<dyn cage_core::backend::DynAsyncSandbox>, cage_core::Sandbox<Self>> {
        Ok(cage_core::backend::native_async(sandbox))
    }

    fn store(&self, module: &WasmtimeModule, mut host: HostState) -> Result<WasmtimeStore, Error> {
        let l = &self.policy.limits;
        cage_core::backend::set_clock(&mut host, self.pacer.as_ref().map(|p| p.clock().clone()));
        let slot = self.slots.as_ref().map(pool::Slots::enter).transpose()?;
        let mut store = Store::new(
            &self.engine,
            StoreData {
                limiter: Limiter::new(l),
                memory: None,
                deadline: ticker::Deadline {
                    // No call is armed yet: nothing is due.
                    at: u64::MAX,
                    clock: self.pacer.as_ref().map(|p| p.clock().clone()),
                    ..ticker::Deadline::default()
                },
                host,
            },
        );
        configure(&mut store, l.fuel.is_some(), self.pacer.is_some())?;
        Ok(WasmtimeStore {
            _slot: slot,
            store,
            pres: module.pres.clone(),
            instance: None,
            fuel: l.fuel,
            timeout: l.timeout,
            pacer: self.pacer.clone(),
            #[cfg(feature = "async")]
            yield_every: u64::try_from(l.yield_interval.as_nanos()).unwrap_or(u64::MAX),
            raw: Vec::new(),
        })
    }
}

/// Sets a new store up: Cage's limiter, fuel (when metered), the deadline callback (when
/// paced).
fn configure(store: &mut Store<StoreData>, metered: bool, paced: bool) -> Result<(), Error> {
    store.limiter(|d| &mut d.limiter);
    if metered {
        // Instantiation (segments, initialisers) is not guest code and is not metered: the
        // budget is set once it is done (see `instantiate`).
        store
            .set_fuel(u64::MAX)
            .map_err(|e| Error::host_from(HostFailure::Runtime, "cannot set fuel", e))?;
    }
    if paced {
        store.epoch_deadline_callback(|mut cx| Ok(cx.data_mut().deadline.tick()));
    }
    Ok(())
}

/// One Wasmtime store with (at most) one instance.
pub struct WasmtimeStore {
    store: Store<StoreData>,
    /// What it instantiates, sync or async (see [`WasmtimeModule`]).
    pres: Arc<Pres>,
    instance: Option<wasmtime::Instance>,
    fuel: Option<u64>,
    timeout: Option<Duration>,
    /// The runtime's deadline clock (with a timeout, or the `async` feature).
    pacer: Option<Arc<Pacer>>,
    /// `limits.yield_interval`, in nanoseconds.
    #[cfg(feature = "async")]
    yield_every: u64,
    /// The raw argument and result buffer, reused across calls.
    raw: Vec<wasmtime::ValRaw>,
    /// Its place in the pool (and the pool's slot charges, while it lives); dropped after the
    /// store.
    _slot: Option<pool::SlotInUse>,
}

impl std::fmt::Debug for WasmtimeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmtimeStore").finish_non_exhaustive()
    }
}

/// Starts the deadline for one call: fixed now (the pacer's precise clock plus the timeout),
/// judged by a callback at every epoch tick from the next one on. `yield_every` (async calls
/// only): the guest yields at the first tick past each interval. Returns the deadline.
#[inline]
fn arm(
    store: &mut Store<StoreData>,
    timeout: Option<Duration>,
    pacer: &Option<Arc<Pacer>>,
    yield_every: Option<u64>,
) -> Option<std::time::Instant> {
    let pacer = pacer.as_ref()?;
    let at = match timeout {
        Some(t) => pacer.arm(t),
        // Only yields to pace: heats the pacer without a deadline.
        None if yield_every.is_some() => {
            let _ = pacer.arm(Duration::ZERO);
            u64::MAX
        }
        None => u64::MAX,
    };
    let data = store.data_mut();
    data.deadline.at = at;
    data.deadline.yield_every = yield_every;
    if let Some(every) = yield_every {
        data.deadline.next_yield = pacer.clock().coarse().saturating_add(every);
    }
    let deadline = (at != u64::MAX).then_some(at);
    cage_core::backend::set_deadline(&mut data.host, deadline);
    store.set_epoch_deadline(1);
    deadline.map(|at| pacer.clock().instant(at))
}

impl WasmtimeStore {
    /// Arms a sync call.
    #[inline]
    fn arm_sync(&mut self) {
        if self.pacer.is_some() {
            arm(&mut self.store, self.timeout, &self.pacer, None);
        }
    }

    /// What instantiation ends with, sync or async: the instance's `memory`, the fuel budget.
    fn instantiated(&mut self, instance: wasmtime::Instance) -> Result<(), Error> {
        self.store.data_mut().memory = instance.get_memory(&mut self.store, "memory");
        if let Some(f) = self.fuel {
            self.store
                .set_fuel(f)
                .map_err(|e| Error::host_from(HostFailure::Runtime, "cannot set fuel", e))?;
        }
        self.instance = Some(instance);
        Ok(())
    }
}

/// The refusal of a second instantiation.
fn already_instantiated() -> Error {
    Error::reject(
        Rejection::InvalidInvocation,
        "this store is already instantiated",
    )
}

#[cfg(feature = "async")]
impl cage_core::backend::AsyncStore for WasmtimeStore {
    fn instantiate_async(&mut self) -> cage_core::backend::BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            if self.instance.is_some() {
                return Err(already_instantiated());
            }
            let mut pool_full = PoolFull::new();
            let instance = loop {
                match self.pres.pre_async.instantiate_async(&mut self.store).await {
                    Err(e) if pool_full.retry(&e) => {
                        cage_core::async_api::yield_now().await;
                        self.renew()?;
                    }
                    r => break r.map_err(|e| classify(&e))?,
                }
            };
            self.instantiated(instance)
        })
    }

    fn call_async<'a>(
        &'a mut self,
        func: &WasmtimeFunc,
        args: &[Value],
        results: &'a mut [Value],
    ) -> cage_core::backend::AsyncCall<'a> {
        let deadline = arm(
            &mut self.store,
            self.timeout,
            &self.pacer,
            Some(self.yield_every),
        );
        let (func, args) = (func.func, args.to_vec());
        let store = &mut self.store;
        cage_core::backend::AsyncCall::new(
            deadline,
            Box::pin(async move {
                // References made for the call are unrooted when it returns.
                let mut scope = wasmtime::RootScope::new(store);
                let mut params = Vec::with_capacity(args.len());
                for a in &args {
                    params.push(to_val(&mut scope, a)?);
                }
                let mut out = vec![wasmtime::Val::I32(0); results.len()];
                func.call_async(&mut scope, &params, &mut out)
                    .await
                    .map_err(|e| classify(&e))?;
                for (slot, v) in results.iter_mut().zip(&out) {
                    *slot = from_val(&mut scope, v);
                }
                Ok(())
            }),
        )
    }
}

/// How long an instantiation refused by a full pool is tried again: see [`PoolFull`]. The
/// slots come back microseconds after a flush starts, unless the flushing thread loses its core
/// meanwhile: on a loaded 2-core machine (CI), 5 ms was seen to be too short (one refusal in
/// 6 000). Core's cap sizes the pool, so a pool that stays full this long does not happen
/// unless Wasmtime leaks slots; the wait costs only such a refusal.
const POOL_FULL_RETRY: Duration = Duration::from_millis(100);

/// Retries of an instantiation that Wasmtime's pool refused although core's live-sandbox cap
/// (which sizes the pool) admitted it. The pool resets freed slots in batches, and a thread
/// that finds the pool full flushes the batch and tries again; but a flush takes the batch out
/// of its lock before it resets it, so a second thread finding the pool full meanwhile sees an
/// empty batch and fails, although the slots come back microseconds later (seen with 1 000
/// guests made at once on two executor threads: 1–2 refused `limit_exceeded`). So a refusal is
/// tried again, in a new store (the refused attempt counted an instance against the store's
/// limit of one: [`WasmtimeStore::renew`]), yielding the thread (or, awaited, the executor) in
/// between, for at most [`POOL_FULL_RETRY`]; past that the pool is really full and the refusal
/// stands.
struct PoolFull {
    since: Option<Instant>,
}

impl PoolFull {
    fn new() -> Self {
        PoolFull { since: None }
    }

    /// Whether to try again after `e` (the caller yields first: the thread, or on the async
    /// path the executor, `cage_core::async_api::yield_now`).
    fn retry(&mut self, e: &wasmtime::Error) -> bool {
        if !e.is::<wasmtime::PoolConcurrencyLimitError>() {
            return false;
        }
        let since = *self.since.get_or_insert_with(Instant::now);
        since.elapsed() < POOL_FULL_RETRY
    }
}

impl WasmtimeStore {
    /// Replaces the store, before any instance is complete in it, by a new one with the same
    /// host state (WASI, the application's data) and settings: after an instantiation that the
    /// pool refused, whose attempt still counted an instance against the store's limit.
    fn renew(&mut self) -> Result<(), Error> {
        let engine = self.store.engine().clone();
        let empty = StoreData {
            limiter: Limiter::new(&Policy::default().limits),
            memory: None,
            deadline: ticker::Deadline::default(),
            host: HostState::default(),
        };
        let old = std::mem::replace(&mut self.store, Store::new(&engine, empty));
        let mut data = old.into_data();
        data.limiter.reset();
        data.memory = None;
        self.store = Store::new(&engine, data);
        configure(&mut self.store, self.fuel.is_some(), self.pacer.is_some())
    }
}

impl CageStore for WasmtimeStore {
    type Func = WasmtimeFunc;

    fn instantiate(&mut self) -> Result<(), Error> {
        // One instance per store, whoever asks (`cage_core::backend::store_of`).
        if self.instance.is_some() {
            return Err(already_instantiated());
        }
        let mut pool_full = PoolFull::new();
        let instance = loop {
            match self.pres.pre.instantiate(&mut self.store) {
                Err(e) if pool_full.retry(&e) => {
                    std::thread::yield_now();
                    self.renew()?;
                }
                r => break r.map_err(|e| classify(&e))?,
            }
        };
        self.instantiated(instance)
    }

    fn func(&mut self, name: &str) -> Option<WasmtimeFunc> {
        let instance = self.instance?;
        let func = instance.get_func(&mut self.store, name)?;
        Some(WasmtimeFunc::new(&self.store, func))
    }

    #[inline]
    fn call(
        &mut self,
        func: &WasmtimeFunc,
        args: &[Value],
        results: &mut [Value],
    ) -> Result<(), Error> {
        self.arm_sync();
        unsafe_api::call(&mut self.store, func, args, results, &mut self.raw)
    }

    fn stats(&mut self) -> Stats {
        Stats::new(
            self.fuel
                .map(|f| f.saturating_sub(self.store.get_fuel().unwrap_or(0))),
            self.store.data().limiter.peak_memory_bytes,
        )
        .with_peak_table_elements(self.store.data().limiter.peak_table_elements)
    }

    fn fuel(&mut self) -> Option<u64> {
        self.fuel?;
        self.instance?;
        self.store.get_fuel().ok()
    }

    fn set_fuel(&mut self, fuel: u64) -> Result<(), Error> {
        self.store
            .set_fuel(fuel)
            .map_err(|e| Error::host_from(HostFailure::Runtime, "cannot set fuel", e))
    }

    fn exported_state(&mut self) -> ExportedState {
        let mut state = ExportedState::default();
        let Some(instance) = self.instance else {
            return state;
        };
        let exports: Vec<(String, wasmtime::Extern)> = instance
            .exports(&mut self.store)
            .map(|e| (e.name().to_owned(), e.into_extern()))
            .collect();
        for (name, ext) in exports {
            match ext {
                wasmtime::Extern::Global(g) => {
                    let v = g.get(&mut self.store);
                    let v = from_val(&mut self.store, &v);
                    state.push_global(&name, v);
                }
                wasmtime::Extern::Memory(m) => state.push_memory(&name, m.data(&self.store)),
                // Shared memories are left out (see `ExportedState`).
                _ => {}
            }
        }
        state
    }

    fn host_state(&mut self) -> &mut HostState {
        &mut self.store.data_mut().host
    }
}

impl<P, R> TypedStore<P, R> for WasmtimeStore
where
    P: WasmParams + wasmtime::WasmParams,
    R: WasmResults + wasmtime::WasmResults,
{
    type Typed = wasmtime::TypedFunc<P, R>;

    fn typed(&mut self, func: &WasmtimeFunc) -> Result<wasmtime::TypedFunc<P, R>, Error> {
        func.func.typed::<P, R>(&self.store).map_err(|e| {
            Error::host_from(
                HostFailure::Runtime,
                "wasmtime refused a signature core had checked",
                e,
            )
        })
    }

    #[inline]
    fn call_typed(&mut self, func: &wasmtime::TypedFunc<P, R>, args: P) -> Result<R, Error> {
        self.arm_sync();
        func.call(&mut self.store, args).map_err(|e| classify(&e))
    }
}
