//! The backend API: what a runtime backend implements, and the helpers it may use.
//!
//! A backend supplies runtime primitives only: compile a checked module, serialize and load
//! its code (core's cache decides when, and authenticates what is loaded), bind its imports,
//! make a store for it, instantiate it (segments and initialisers; never the start function),
//! look up and call exported functions under the policy's fuel and deadline, and report counters
//! and exported state. Everything else is written once in core ([`crate::Runtime`],
//! [`crate::Sandbox`]): validation, import resolution, the import providers' per-sandbox set-up
//! (WASI's among them, from the `cage-wasi` crate), the sandbox lifecycle (fresh → instantiated
//! | failed | poisoned), argument checks, panic containment, the live-sandbox cap. So two
//! backends cannot disagree on any of it.
//!
//! Applications do not use this module; backend authors do. The `cage-behaviour` test-support
//! package is the suite a backend's own tests run to prove itself.

use crate::error::Error;
use crate::host::HostFunc;
use crate::module::CheckedModule;
use crate::names::RuntimeName;
use crate::policy::Policy;
use crate::records::{Capabilities, ExportedState, Stats};
use crate::state::HostState;
use crate::typed::{WasmParams, WasmResults};
use crate::value::Value;

pub use crate::host::{HostAccess, checked_range};

/// Makes a runtime: validates `policy` (ranges and combinations, [`Policy::validate`]; host
/// directories, [`Policy::check_host_dirs`]) and only then lets `make` build the backend from
/// it. The one way to a [`crate::Runtime`], so no backend can skip the policy's validation.
///
/// # Errors
/// The policy's first problem; what `make` answers.
pub fn runtime<B: Backend>(
    policy: &Policy,
    make: impl FnOnce(&Policy) -> Result<B, Error>,
) -> Result<crate::Runtime<B>, Error> {
    policy.validate()?;
    policy.check_host_dirs()?;
    Ok(crate::Runtime::from_backend(make(policy)?))
}

/// Gives `state` its runtime's deadline clock (backends, in [`Backend::store`], before the
/// store is used; `None` when the policy has no `timeout`), on which [`set_deadline`]'s
/// deadlines are counted.
pub fn set_clock(state: &mut HostState, clock: Option<Clock>) {
    state.set_clock(clock);
}

/// Sets the deadline of the call starting now on `state` (backends, before each call), on the
/// clock given to [`set_clock`] ([`crate::deadline::Pacer::arm`]'s answer), so that host
/// functions see it ([`HostState::deadline_passed`]).
#[inline]
pub fn set_deadline(state: &mut HostState, deadline: Option<u64>) {
    state.set_deadline(deadline);
}

/// Attaches a backend's typed version of `func`, which that backend links instead of the
/// dynamic closure. It must behave exactly as [`invoke_typed`] does (the `cage` crate's
/// `host_fn` attaches one per backend); backends find theirs with [`fast_path`].
#[must_use]
pub fn with_fast_path<T: std::any::Any + Send + Sync>(func: HostFunc, fast: T) -> HostFunc {
    func.with_fast_path(fast)
}

/// The fast path of type `T` attached to `func` by [`with_fast_path`], if any: a backend links
/// it instead of the dynamic closure.
#[inline]
pub fn fast_path<T: std::any::Any + Send + Sync>(func: &HostFunc) -> Option<&T> {
    func.fast_path()
}

/// What a typed fast path does around the closure, exactly as [`HostFunc::invoke`] does:
/// charge `fuel_cost`, call, contain a panic (poisoning the sandbox), and end the call
/// `timeout` when the closure returned past the deadline.
///
/// # Errors
/// The closure's error, out of fuel, or a panic as [`crate::HostError::Panic`].
#[inline]
pub fn invoke_typed<P: WasmParams, R: WasmResults, F: crate::IntoHostFn<P, R>>(
    module: &str,
    name: &str,
    fuel_cost: u64,
    f: &F,
    ctx: &mut dyn crate::HostContext,
    args: P,
) -> Result<R, crate::HostError> {
    HostFunc::invoke_typed(module, name, fuel_cost, f, ctx, args)
}

/// The backend of `runtime`, for backend authors and their tests (applications use
/// [`crate::Runtime`]'s own methods).
pub fn backend_of<B: Backend>(runtime: &crate::Runtime<B>) -> &B {
    runtime.backend()
}

/// The backend's compiled module behind `module`, for backend authors.
pub fn compiled_of<B: Backend>(module: &crate::Module<B>) -> &B::Module {
    module.compiled()
}

/// The backend's store behind `sandbox`, for backend authors. What is done through it bypasses
/// the sandbox's lifecycle (its state, its fuel account, its panic containment).
pub fn store_of<B: Backend>(sandbox: &mut crate::Sandbox<B>) -> &mut B::Store {
    sandbox.store()
}

/// Native stack, beyond `limits.max_stack`, that a guest thread keeps for the host's own frames
/// (see [`crate::on_guest_thread`]).
pub const HOST_STACK_MARGIN: usize = 2 << 20;

pub use crate::deadline::{Clock, Pacer, deadline_period};

/// A WebAssembly runtime configured by one [`Policy`]: compiles modules and makes stores.
pub trait Backend: Send + Sync + 'static {
    /// Machine code for one module before its imports are bound: what the compiled-module
    /// cache holds. Cheap to clone.
    type Code: Clone + Send + Sync + 'static;
    /// A compiled module with its imports bound, cheap to clone, instantiable many times.
    type Module: Clone + Send + Sync + 'static;
    /// One store holding (at most) one instance of one module.
    type Store: Store + 'static;

    /// Which runtime this is.
    fn name(&self) -> RuntimeName;

    /// Makes the calling thread ready to run guest code, before core lets a sandbox of this
    /// runtime enter it on that thread (every instantiation and call, sync and async): for
    /// example, a signal stack the runtime's trap handler needs. Called on every entry, so it
    /// must be cheap once the thread is ready.
    ///
    /// # Errors
    /// `host_failure: resources` when the host cannot provide what the thread needs; nothing
    /// of the runtime's may have been touched then, so that the thread can try again once the
    /// resource is back.
    fn prepare_thread() -> Result<(), Error>
    where
        Self: Sized,
    {
        Ok(())
    }

    /// What this runtime can do.
    fn capabilities(&self) -> &Capabilities;

    /// The policy the runtime was built with.
    fn policy(&self) -> &Policy;

    /// Compiles `module` (checked by core, its proposals within [`Backend::capabilities`]).
    ///
    /// # Errors
    /// `rejected: unsupported` when the runtime cannot compile it; host failures.
    fn compile_code(&self, module: &CheckedModule) -> Result<Self::Code, Error>;

    /// Binds each import of `code` (compiled from `module`) to the function of the same module
    /// and name in `imports` (core resolved them; names are unique).
    ///
    /// # Errors
    /// `rejected: unresolved_import` when the runtime refuses a binding; host failures.
    fn link(
        &self,
        code: &Self::Code,
        module: &CheckedModule,
        imports: &[HostFunc],
    ) -> Result<Self::Module, Error>;

    /// Everything besides the policy and the module that decides whether code compiled by one
    /// instance of this backend runs correctly in another: the runtime's exact version, its
    /// engine's compatibility hash or deterministic id, CPU features, Cage's own code
    /// transformations. Part of the cache key ([`crate::cache::CacheKey`]).
    fn code_fingerprint(&self) -> Vec<u8>;

    /// `code` as bytes [`Backend::deserialize_code`] of a backend with the same fingerprint
    /// and policy can load.
    ///
    /// # Errors
    /// The runtime cannot serialize it (a host failure).
    fn serialize_code(&self, code: &Self::Code) -> Result<Vec<u8>, Error>;

    /// Loads code that [`Backend::serialize_code`] wrote under the same cache key and that the
    /// cache authenticated: [`crate::cache::VerifiedCode`] exists only for such bytes. This is
    /// where the runtime's `unsafe` deserialization happens.
    ///
    /// # Errors
    /// The runtime refuses the bytes (the cache then compiles again).
    fn deserialize_code(&self, code: &crate::cache::VerifiedCode) -> Result<Self::Code, Error>;

    /// What one sandbox of `module` reserves, for the process budget ([`crate::budget`]):
    /// the address space and mappings its memories and tables will take when instantiated
    /// (nothing for what a pool reserved up front). Core charges it before the store is made.
    fn sandbox_cost(&self, module: &CheckedModule) -> crate::budget::Cost;

    /// What the compiled code of `module` holds while it lives, for the process budget: its
    /// mappings (code, read-only data), and descriptors such as a memory image's. An upper
    /// bound measured for the runtime (`cargo run --release -p cage-bench --example
    /// code_cost`). Core charges it before the code is compiled or loaded and gives it back
    /// when the last module, sandbox or cache entry holding the code is dropped.
    fn code_cost(&self, module: &CheckedModule) -> crate::budget::Cost;

    /// What the stack of one sandbox's async calls holds, for the process budget: charged
    /// with the sandbox when an async sandbox is made on a runtime with
    /// [`Capabilities::native_async`] (a fiber stack of `max_stack` plus the host's margin,
    /// its guard, their mappings; nothing for stacks a pool reserved up front). The default
    /// costs nothing: a backend without native async runs async sandboxes on guest threads,
    /// which core charges itself.
    #[cfg(feature = "async")]
    fn async_stack_cost(&self) -> crate::budget::Cost {
        crate::budget::Cost::default()
    }

    /// Native async (feature `async`): turns `sandbox`, made by this backend, into one that
    /// runs its calls on the application's executor ([`DynAsyncSandbox`]). A backend whose
    /// store implements [`AsyncStore`] answers `Ok(`[`native_async`]`(sandbox))` and declares
    /// [`Capabilities::native_async`]; the default answers `Err(sandbox)`: not supported,
    /// and core runs async sandboxes on guest threads instead.
    ///
    /// # Errors
    /// The sandbox back, when the backend has no native async.
    #[cfg(feature = "async")]
    #[allow(clippy::result_large_err)]
    fn into_native_async(
        sandbox: crate::Sandbox<Self>,
    ) -> Result<Box<dyn DynAsyncSandbox>, crate::Sandbox<Self>>
    where
        Self: Sized,
    {
        Err(sandbox)
    }

    /// Makes a store for `module` holding `host`, the state its host functions reach through
    /// [`crate::HostContext::state`]. No guest code runs.
    ///
    /// # Errors
    /// Host failures (resources).
    fn store(&self, module: &Self::Module, host: HostState) -> Result<Self::Store, Error>;
}

/// One store of a [`Backend`]. Not required to be `Send`: Wasmer's store must stay on the thread
/// that made it.
pub trait Store {
    /// A handle on an exported function, cheap to clone.
    type Func: Clone;

    /// Instantiates the module: memories, tables, globals, data and element segments. Never the
    /// start function: core detached it into the export named by
    /// [`CheckedModule::start_export`] and calls it next. Instantiation is not metered: the
    /// fuel budget must be in place, untouched, when this returns. Called at most once.
    ///
    /// # Errors
    /// Traps (a segment out of bounds), host failures.
    fn instantiate(&mut self) -> Result<(), Error>;

    /// The exported function `name` of the instance (`None` before instantiation, for a
    /// missing export, or one that is not a function).
    fn func(&mut self, name: &str) -> Option<Self::Func>;

    /// Calls `func` with `args` under the fuel budget and the deadline (armed for this call,
    /// with [`set_deadline`] so that host functions see it), writing its results
    /// into `results` (as many as it returns).
    ///
    /// This is a safe method, reachable by anyone who holds a store: it must be sound for any
    /// `args` and `results`. Core checks them against the export's signature before it calls,
    /// but a backend that calls its runtime without checks of the runtime's own (Wasmtime's
    /// `call_unchecked`) must check them itself, against the function's real signature, and
    /// answer `rejected: invalid_invocation` for a mismatch.
    ///
    /// # Errors
    /// Traps classified into the taxonomy, WASI exits, host failures; `invalid_invocation` for
    /// arguments or result slots that do not match the function, where the backend checks
    /// them (Wasmer's backend leaves the arguments to Wasmer's own check, whose refusal is
    /// `trapped: other` with nothing run, and fills result slots as far as both go:
    /// `cage/tests/backend_contract.rs`).
    fn call(
        &mut self,
        func: &Self::Func,
        args: &[Value],
        results: &mut [Value],
    ) -> Result<(), Error>;

    /// Fuel and memory counters. (Core computes `fuel_consumed` itself from
    /// [`Store::fuel`] once the sandbox is instantiated, so that refuelling keeps it exact; the
    /// backend's value serves before that.)
    fn stats(&mut self) -> Stats;

    /// Fuel left, `None` without metering or before instantiation.
    fn fuel(&mut self) -> Option<u64>;

    /// Sets the fuel left (between calls; the policy meters, the store is instantiated: core
    /// checks both).
    ///
    /// # Errors
    /// Host failures.
    fn set_fuel(&mut self, fuel: u64) -> Result<(), Error>;

    /// The exported globals and memories of the guest (never the backend's own bookkeeping
    /// exports).
    fn exported_state(&mut self) -> ExportedState;

    /// The host state given to [`Backend::store`].
    fn host_state(&mut self) -> &mut HostState;
}

/// A boxed `Send` future, as [`AsyncStore`] returns them.
#[cfg(feature = "async")]
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

#[cfg(feature = "async")]
pub use crate::DynAsyncSandbox;

/// A call started by [`AsyncStore::call_async`]: when it must end (armed as the call
/// started, as [`Store::call`] arms it) and the future that runs it.
#[cfg(feature = "async")]
#[non_exhaustive]
pub struct AsyncCall<'a> {
    /// The call's deadline, `None` without a `timeout`. Core ends the call `trapped: timeout`
    /// once it has passed, without waiting for the future to be resumed (see
    /// [`crate::async_api`]).
    pub deadline: Option<std::time::Instant>,
    /// Runs the call; dropping it before it ends must stop the guest and free what it holds.
    pub future: BoxFuture<'a, Result<(), Error>>,
}

#[cfg(feature = "async")]
impl<'a> AsyncCall<'a> {
    /// A call with this deadline, run by `future`.
    pub fn new(
        deadline: Option<std::time::Instant>,
        future: BoxFuture<'a, Result<(), Error>>,
    ) -> Self {
        AsyncCall { deadline, future }
    }
}

#[cfg(feature = "async")]
impl std::fmt::Debug for AsyncCall<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncCall")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// The optional async capability of a [`Store`] (feature `async`): instantiation and calls as
/// `Send` futures that the application's executor polls, the guest suspended on a stack of its
/// own between polls (Wasmtime's fibers). Everything around them (lifecycle, fuel account,
/// deadline race, panic containment, poisoning) is core's, the same code as the sync path's.
///
/// Contract: exactly [`Store::instantiate`] and [`Store::call`], outcome for outcome and fuel
/// for fuel; the guest yields to the executor at least every `limits.yield_interval` while
/// it computes; async host functions ([`HostFunc::is_async`]) are awaited through
/// [`HostFunc::invoke_async`], sync ones run as on the sync path.
#[cfg(feature = "async")]
pub trait AsyncStore: Store + Send {
    /// As [`Store::instantiate`], awaited.
    ///
    /// # Errors
    /// As [`Store::instantiate`].
    fn instantiate_async(&mut self) -> BoxFuture<'_, Result<(), Error>>;

    /// As [`Store::call`], awaited: arms the deadline (with [`set_deadline`]) before it
    /// returns, and says when it is.
    fn call_async<'a>(
        &'a mut self,
        func: &Self::Func,
        args: &[Value],
        results: &'a mut [Value],
    ) -> AsyncCall<'a>;
}

/// The [`Backend::into_native_async`] of a backend whose store implements [`AsyncStore`].
#[cfg(feature = "async")]
pub fn native_async<B: Backend>(sandbox: crate::Sandbox<B>) -> Box<dyn DynAsyncSandbox>
where
    B::Store: AsyncStore,
    <B::Store as Store>::Func: Send + Sync,
{
    Box::new(sandbox)
}

/// Typed calls of signature `P -> R` on a [`Store`]: the runtime's own typed call, with no
/// allocation. Core checks the export's signature against `P` and `R` before
/// [`TypedStore::typed`] is called.
pub trait TypedStore<P: WasmParams, R: WasmResults>: Store {
    /// The runtime's typed handle.
    type Typed: Clone;

    /// The typed handle of `func`, whose signature is `P -> R`.
    ///
    /// # Errors
    /// A signature the runtime does not accept (a bug: core checked it).
    fn typed(&mut self, func: &Self::Func) -> Result<Self::Typed, Error>;

    /// Calls `func` with `args` under the fuel budget and the deadline, as [`Store::call`].
    ///
    /// # Errors
    /// As [`Store::call`].
    fn call_typed(&mut self, func: &Self::Typed, args: P) -> Result<R, Error>;
}
