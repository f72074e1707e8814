//! Cage's runtime-independent core.
//!
//! Everything here is decided without a WebAssembly runtime, so every backend agrees on it by
//! construction. Two layers:
//!
//! **What applications use** (re-exported by the `cage` crate):
//! - [`Policy`]: limits, allowed proposals ([`Proposal`]), WASI capabilities; presets; the TOML
//!   policy file.
//! - [`Runtime`], [`Module`], [`Sandbox`]: compile once, make a sandbox per request, call; the
//!   sandbox lifecycle is written once, here, for every backend. [`DynRuntime`] picks a runtime
//!   at run time.
//! - [`check`]: validation with exactly the policy's proposals and every static limit.
//! - [`Error`] (whose fault: trapped, exited, rejected, invalid policy, host failure), [`Trap`],
//!   [`Rejection`], [`HostFailure`], [`Outcome`]: one taxonomy for every runtime.
//! - [`Report`] and [`run()`]: check, compile and run a module, producing the JSON report.
//! - [`HostFunc`]: portable host functions with bounds-checked memory access, fuel and typed
//!   per-sandbox state ([`HostContext`]).
//! - [`provider`]: import sets with per-sandbox state, built on the host-function API (WASI
//!   preview 1 is one, in the `cage-wasi` crate).
//!
//! **What backend authors implement**: the [`backend`] module ([`backend::Backend`],
//! [`backend::Store`]) and, to prove a backend, the behaviour suite (the `cage-behaviour`
//! test-support package).
//!
//! ```
//! use cage_core::{Policy, Rejection, check};
//! let policy = Policy::from_toml("[limits]\nmax_memory = \"1 MiB\"").unwrap();
//! // A module with a 100-page memory: (module (memory 100))
//! let wasm = [0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 100];
//! let err = check(&wasm, &policy).unwrap_err();
//! assert_eq!(err.as_rejection(), Some(Rejection::LimitExceeded));
//! ```

/// Expands `$m! { () (P1) (P1, P2) … (P1, …, P8) }`: every arity of typed calls and typed
/// host functions (0 to 8 parameters). The one list of arities: core's tuple impls, both
/// backends' typed host functions and Wasmer's typed calls expand over it.
#[macro_export]
macro_rules! for_each_arity {
    ($m:ident) => {
        $m! {
            ()
            (P1)
            (P1, P2)
            (P1, P2, P3)
            (P1, P2, P3, P4)
            (P1, P2, P3, P4, P5)
            (P1, P2, P3, P4, P5, P6)
            (P1, P2, P3, P4, P5, P6, P7)
            (P1, P2, P3, P4, P5, P6, P7, P8)
        }
    };
}

#[cfg(feature = "async")]
pub mod async_api;
pub mod backend;
pub mod budget;
pub mod cache;
pub mod cost;
pub mod deadline;
mod error;
mod host;
pub mod module;
mod names;
mod outcome;
pub mod policy;
pub use host::provider;
mod records;
mod report;
mod run;
mod runtime;
mod state;
pub mod telemetry;
mod typed;
mod value;

pub use budget::{ProcessBudget, ProcessUsage, process_budget, process_usage, set_process_budget};
pub use cache::{CacheStats, DiskCache, HmacKey};
pub use cost::CostModel;
pub use error::{Error, Source, exhausted, outcome_of};
pub use host::{HostContext, HostError, HostFn, HostFunc, HostFunctions, IntoHostFn};
pub use module::{CheckedModule, FuncType, ModuleInfo, check};
pub use names::{RuntimeName, UnknownRuntime};
pub use outcome::{HostFailure, Outcome, OutcomeClass, Rejection, Trap};
pub use policy::{Features, Limits, Policy, PolicyError, Preset, Proposal, Size};
pub use records::{Capabilities, ExportedState, Output, Stats};
pub use report::{CacheResult, Report};
pub use run::{Invocation, Observed, on_guest_thread, prepare, run, run_observed};
#[cfg(feature = "async")]
pub use runtime::DynAsyncSandbox;
pub use runtime::{
    DynModule, DynRuntime, DynSandbox, Func, Module, Runtime, Sandbox, ShardedRuntime, TypedFunc,
    shard_policies,
};
pub use state::{Extensions, HostState};
pub use telemetry::{enable_metrics, metrics_enabled};
pub use typed::{WasmParams, WasmResults, WasmTy};
pub use value::{RefKind, ValType, Value};
