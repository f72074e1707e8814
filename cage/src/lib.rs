//! Cage: one policy, one trap taxonomy, several WebAssembly runtimes.
//!
//! Applications depend on this crate and pick runtimes with Cargo features; nothing else is
//! compiled (the CLI, the benchmarks and the conformance suite are separate packages).
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `wasmtime` | yes | runtime `wasmtime` ([`Wasmtime`]) |
//! | `wasmer` | yes | runtime `wasmer-cranelift` (alias `wasmer`) ([`Wasmer`]) |
//! | `wasmer-singlepass` | no | runtime `wasmer-singlepass`; Singlepass is BUSL-1.1 (see the README, "Licenses") |
//! | `wat` | no | WebAssembly text accepted wherever a module is taken |
//! | `async` | no | the async API: `AsyncSandbox`, `run_async`, `HostFunc::new_async`; on Wasmtime guests run on fibers polled by the executor (`Capabilities::native_async`), on Wasmer on a thread each (docs/rust.md, "Async") |
//!
//! Two ways in, both without importing a trait:
//!
//! - One runtime, no dynamic dispatch: [`wasmtime`]/[`wasmer`] give a [`Runtime`] of that
//!   backend (typed calls, typed host functions): compile once, make a [`Sandbox`] per request,
//!   call. [`default_runtime`] gives the default one behind one stable type
//!   (`Box<dyn DynRuntime>`), whatever the features.
//! - Any runtime by name: [`runtime`] returns a `Box<dyn DynRuntime>`; [`run()`] checks, compiles
//!   and runs a module on it and returns a [`Report`].
//!
//! ```
//! use cage::{HostFunctions, Policy, Trap, Value};
//! # fn main() -> Result<(), cage::Error> {
//! // (module (func (export "spin") (loop br 0))) as a binary; with the `wat` feature, text works.
//! let wasm = [0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 7, 8, 1, 4, 115, 112,
//!     105, 110, 0, 0, 10, 9, 1, 7, 0, 3, 64, 12, 0, 11, 11];
//! let policy = Policy::default().with_fuel(Some(10_000));
//! let rt = cage::default_runtime(&policy)?;
//! let module = rt.compile(&wasm, &HostFunctions::new())?;
//! let mut sandbox = module.sandbox()?;
//! sandbox.instantiate()?;
//! let e = sandbox.call("spin", &[]).unwrap_err();
//! assert_eq!(e.as_trap(), Some(Trap::OutOfFuel));
//! assert_eq!(sandbox.stats().fuel_consumed, Some(10_000));
//! # Ok(())
//! # }
//! ```

/// The async API (feature `async`): see [`async_api`] and docs/rust.md, "Async".
#[cfg(feature = "async")]
pub use cage_core::async_api;
#[cfg(feature = "async")]
pub use cage_core::async_api::{AsyncSandbox, run_async};
/// The bound generic code puts on a backend's store to make typed calls of signature `P -> R`
/// (`where B::Store: TypedStore<(i32,), i32>`); every backend implements it for every
/// signature of [`WasmTy`] values.
pub use cage_core::backend::TypedStore;
pub use cage_core::policy::{Dir, DirMode};
pub use cage_core::{
    CacheResult, CacheStats, Capabilities, CheckedModule, CostModel, DiskCache, DynModule,
    DynRuntime, DynSandbox, Error, ExportedState, Extensions, Features, Func, FuncType, HmacKey,
    HostContext, HostError, HostFailure, HostFn, HostFunc, HostFunctions, HostState, IntoHostFn,
    Invocation, Limits, Module, ModuleInfo, Outcome, OutcomeClass, Output, Policy, PolicyError,
    Preset, Proposal, RefKind, Rejection, Report, Runtime, RuntimeName, Sandbox, Size, Source,
    Stats, Trap, TypedFunc, UnknownRuntime, ValType, Value, WasmParams, WasmResults, WasmTy, check,
    on_guest_thread, outcome_of, prepare, run,
};
pub use cage_core::{Observed, run_observed};
pub use cage_core::{
    ProcessBudget, ProcessUsage, process_budget, process_usage, set_process_budget,
};
pub use cage_core::{ShardedRuntime, shard_policies};
pub use cage_core::{budget, cache, cost, module, policy, provider, telemetry};
pub use cage_core::{enable_metrics, metrics_enabled};
/// WASI preview 1 (the `cage-wasi` crate): every runtime this crate makes provides it.
pub use cage_wasi as wasi;
pub use cage_wasi::{CommandOutput, WASI_MODULE, WasiCommand};

/// A typed host function for every compiled-in runtime: `f` takes the [`HostContext`] and
/// [`WasmTy`] parameters (up to eight) and returns [`WasmResults`] or a [`HostError`]; the
/// signature comes from the closure's types.
///
/// Each runtime links it through its own typed host-function path (Wasmtime's
/// `Linker::func_wrap`, Wasmer's `Function::new_typed_with_env`), so a call from the guest costs
/// what it costs in the raw runtime, not a round trip through [`Value`] vectors. It behaves
/// exactly like the [`HostFunc::new`] form: `fuel_cost` is charged first, a panic is contained:
/// the guest traps `host_error` naming the function and the panic message, and the sandbox is
/// poisoned.
///
/// ```
/// use cage::{HostContext, HostError, HostFunctions};
/// fn bump(_: &mut dyn HostContext, x: i32) -> Result<i32, HostError> {
///     Ok(x.wrapping_add(1))
/// }
/// let host = HostFunctions::new().with(cage::host_fn("env", "bump", bump));
/// # let _ = host;
/// ```
pub fn host_fn<P, R, F>(module: &str, name: &str, f: F) -> HostFunc
where
    P: HostParams,
    R: HostResults,
    F: IntoHostFn<P, R>,
{
    let f = std::sync::Arc::new(f);
    #[allow(unused_mut)]
    let mut func = HostFunc::wrap_shared(module, name, f.clone());
    #[cfg(feature = "wasmtime")]
    {
        let fast = <P as cage_wasmtime::HostParams>::fast_path::<R, F>(module, name, f.clone());
        func = cage_core::backend::with_fast_path(func, fast);
    }
    #[cfg(feature = "wasmer")]
    {
        let fast = <P as cage_wasmer::HostParams>::fast_path::<R, F>(module, name, f);
        func = cage_core::backend::with_fast_path(func, fast);
    }
    func
}

pub use host_bounds::{HostParams, HostResults};

/// The bounds of [`host_fn`]'s parameters and results: every [`WasmParams`]/[`WasmResults`]
/// tuple the compiled-in runtimes can take in a typed host function (all of them, up to eight).
mod host_bounds {
    #[cfg(feature = "wasmtime")]
    pub trait WasmtimeParams: cage_wasmtime::HostParams {}
    #[cfg(feature = "wasmtime")]
    impl<T: cage_wasmtime::HostParams> WasmtimeParams for T {}
    #[cfg(not(feature = "wasmtime"))]
    pub trait WasmtimeParams {}
    #[cfg(not(feature = "wasmtime"))]
    impl<T> WasmtimeParams for T {}

    #[cfg(feature = "wasmer")]
    pub trait WasmerParams: cage_wasmer::HostParams {}
    #[cfg(feature = "wasmer")]
    impl<T: cage_wasmer::HostParams> WasmerParams for T {}
    #[cfg(not(feature = "wasmer"))]
    pub trait WasmerParams {}
    #[cfg(not(feature = "wasmer"))]
    impl<T> WasmerParams for T {}

    #[cfg(feature = "wasmtime")]
    pub trait WasmtimeResults: cage_wasmtime::HostResults {}
    #[cfg(feature = "wasmtime")]
    impl<T: cage_wasmtime::HostResults> WasmtimeResults for T {}
    #[cfg(not(feature = "wasmtime"))]
    pub trait WasmtimeResults {}
    #[cfg(not(feature = "wasmtime"))]
    impl<T> WasmtimeResults for T {}

    #[cfg(feature = "wasmer")]
    pub trait WasmerResults: cage_wasmer::WasmerResults {}
    #[cfg(feature = "wasmer")]
    impl<T: cage_wasmer::WasmerResults> WasmerResults for T {}
    #[cfg(not(feature = "wasmer"))]
    pub trait WasmerResults {}
    #[cfg(not(feature = "wasmer"))]
    impl<T> WasmerResults for T {}

    /// Parameters of a [`host_fn`](crate::host_fn): a tuple of up to eight
    /// [`WasmTy`](crate::WasmTy).
    pub trait HostParams: cage_core::WasmParams + WasmtimeParams + WasmerParams {}
    impl<T: cage_core::WasmParams + WasmtimeParams + WasmerParams> HostParams for T {}

    /// Results of a [`host_fn`](crate::host_fn): `()`, one [`WasmTy`](crate::WasmTy) or a tuple
    /// of up to eight.
    pub trait HostResults: cage_core::WasmResults + WasmtimeResults + WasmerResults {}
    impl<T: cage_core::WasmResults + WasmtimeResults + WasmerResults> HostResults for T {}
}

/// The README's Rust example, compiled and run as a doctest so that it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// The Rust examples of `docs/rust.md` (the hot paths), compiled and run as doctests too.
#[cfg(doctest)]
#[doc = include_str!("../../docs/rust.md")]
struct RustDocDoctests;

#[cfg(feature = "wasmer")]
pub use cage_wasmer::{Compiler as WasmerCompiler, WASMER_VERSION, Wasmer};
#[cfg(feature = "wasmtime")]
pub use cage_wasmtime::{WASMTIME_VERSION, Wasmtime};

#[cfg(not(any(feature = "wasmtime", feature = "wasmer")))]
compile_error!("enable at least one runtime feature of `cage`: `wasmtime` or `wasmer`");

/// The runtime [`default_runtime`] makes: the first compiled in of `wasmer-cranelift` (the
/// default since the first release) and `wasmtime`.
const DEFAULT_RUNTIME: RuntimeName = if cfg!(feature = "wasmer") {
    RuntimeName::WasmerCranelift
} else {
    RuntimeName::Wasmtime
};

/// Makes the default runtime for `policy`, with WASI: `wasmer-cranelift` when the `wasmer`
/// feature is on, else `wasmtime` ([`default_runtime_name`] says which). One stable type
/// whatever the features, so that enabling a feature in one crate never breaks another; for
/// typed calls and host functions without dynamic dispatch, name the runtime
/// ([`wasmtime()`](fn@wasmtime), [`wasmer()`](fn@wasmer)).
///
/// # Errors
/// A policy the runtime refuses; a host failure (a thread that cannot start).
pub fn default_runtime(policy: &Policy) -> Result<Box<dyn DynRuntime>, Error> {
    runtime_named(DEFAULT_RUNTIME, policy).map_err(|e| match e {
        RuntimeError::Failed(e) => e,
        other => Error::host(HostFailure::Runtime, other.to_string()),
    })
}

/// `runtime` with Cage's WASI preview 1 added (every runtime this crate makes has it).
fn with_wasi<B: cage_core::backend::Backend>(runtime: Runtime<B>) -> Result<Runtime<B>, Error> {
    runtime.add_provider(cage_wasi::provider_for(runtime.policy())?);
    Ok(runtime)
}

/// Makes the runtime `wasmtime` for `policy`, with WASI.
///
/// # Errors
/// A policy Wasmtime refuses; a host failure.
#[cfg(feature = "wasmtime")]
pub fn wasmtime(policy: &Policy) -> Result<Runtime<Wasmtime>, Error> {
    with_wasi(cage_wasmtime::runtime(policy)?)
}

/// Makes the runtime `wasmer-cranelift` or `wasmer-singlepass` for `policy`, with WASI.
///
/// # Errors
/// A policy Wasmer refuses; a host failure.
#[cfg(feature = "wasmer")]
pub fn wasmer(policy: &Policy, compiler: WasmerCompiler) -> Result<Runtime<Wasmer>, Error> {
    with_wasi(cage_wasmer::runtime(policy, compiler)?)
}

/// Why a runtime could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The name is not a runtime Cage knows.
    #[error(transparent)]
    Unknown(#[from] UnknownRuntime),
    /// The runtime exists but this build does not include it.
    #[error("runtime `{name}` is not compiled in: enable the cargo feature `{feature}` of `cage`")]
    NotCompiledIn {
        /// Runtime name.
        name: RuntimeName,
        /// Feature that adds it.
        feature: &'static str,
    },
    /// The policy is invalid, the runtime refuses it, or the host failed making it.
    #[error(transparent)]
    Failed(#[from] Error),
}

/// The default runtime's name: `wasmer-cranelift` with the `wasmer` feature, else `wasmtime`.
pub fn default_runtime_name() -> RuntimeName {
    DEFAULT_RUNTIME
}

/// The runtimes compiled into this build, in a stable order.
pub fn available_runtimes() -> Vec<RuntimeName> {
    RuntimeName::ALL
        .into_iter()
        .filter(|n| is_compiled_in(*n))
        .collect()
}

fn is_compiled_in(name: RuntimeName) -> bool {
    let wasmtime = cfg!(feature = "wasmtime") && name == RuntimeName::Wasmtime;
    let cranelift = cfg!(feature = "wasmer") && name == RuntimeName::WasmerCranelift;
    let singlepass = cfg!(feature = "wasmer-singlepass") && name == RuntimeName::WasmerSinglepass;
    wasmtime || cranelift || singlepass
}

/// Makes the runtime named `name` (`wasmtime`, `wasmer-cranelift`, `wasmer-singlepass`, or the
/// alias `wasmer`) configured by `policy`, behind dynamic dispatch.
///
/// # Errors
/// An unknown name, a runtime not compiled in (naming the feature to enable), or a runtime that
/// refuses the policy or cannot start.
pub fn runtime(name: &str, policy: &Policy) -> Result<Box<dyn DynRuntime>, RuntimeError> {
    runtime_named(name.parse()?, policy)
}

/// [`runtime_named`] sharded by thread: `shards` runtimes of `policy` (each with its share of
/// `max_instances`) behind one [`DynRuntime`], each thread making its sandboxes on its own
/// shard (a thread whose shard is full uses another). For instance-per-request servers on
/// several threads: one runtime's shared state is what their instantiations contend on. Every
/// module is compiled once per shard, and each shard has its own caches (the memory cache's
/// capacity is per shard), pool, deadline thread and WASI provider. `shards` is capped at
/// `max_instances`. Threads are numbered as they first make a sandbox and take the shards in
/// turn, so a thread per request spreads its requests round-robin. See [`ShardedRuntime`] and
/// docs/many-tenants.md.
///
/// # Errors
/// As [`runtime`].
pub fn runtime_sharded(
    name: RuntimeName,
    policy: &Policy,
    shards: usize,
) -> Result<Box<dyn DynRuntime>, RuntimeError> {
    let runtimes = shard_policies(policy, shards)
        .iter()
        .map(|p| runtime_named(name, p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Box::new(ShardedRuntime::new(runtimes, policy.clone())?))
}

/// [`runtime`] for a parsed name.
///
/// # Errors
/// As [`runtime`].
pub fn runtime_named(
    name: RuntimeName,
    policy: &Policy,
) -> Result<Box<dyn DynRuntime>, RuntimeError> {
    match name {
        #[cfg(feature = "wasmtime")]
        RuntimeName::Wasmtime => Ok(Box::new(wasmtime(policy)?)),
        #[cfg(feature = "wasmer")]
        RuntimeName::WasmerCranelift => {
            Ok(Box::new(wasmer(policy, cage_wasmer::Compiler::Cranelift)?))
        }
        #[cfg(feature = "wasmer-singlepass")]
        RuntimeName::WasmerSinglepass => {
            Ok(Box::new(wasmer(policy, cage_wasmer::Compiler::Singlepass)?))
        }
        other => Err(RuntimeError::NotCompiledIn {
            name: other,
            feature: other.feature(),
        }),
    }
}
