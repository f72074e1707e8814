//! Cage's runtime-independent core.
//!
//! Everything here is decided without a WebAssembly runtime, so every backend agrees on it by
//! construction:
//!
//! - [`Policy`]: limits, allowed proposals, WASI capabilities; presets; the TOML policy file.
//! - [`check`]: validation with exactly the policy's proposals and every static limit.
//! - [`Trap`], [`Rejection`], [`Outcome`], [`Error`]: one taxonomy for every runtime.
//! - [`Report`]: the JSON run report.
//! - [`Runtime`] / [`Sandbox`]: the contract a backend implements; [`DynRuntime`] to iterate.
//! - [`HostFunc`]: portable host functions with bounds-checked memory access and fuel.
//! - [`CostModel`]: the fuel cost of every operator, which each backend is configured from.
//! - [`run()`]: check, compile and run a module, producing a [`Report`].
//! - [`wasi`]: the WASI preview 1 import table and Cage's portable WASI functions.
//!
//! ```
//! use cage_core::{Policy, Rejection, Error, check};
//! let policy = Policy::from_toml("[limits]\nmax_memory = \"1 MiB\"").unwrap();
//! let wasm = cage_core::module::to_binary(b"(module (memory 100))").unwrap();
//! let err = check(&wasm, &policy).unwrap_err();
//! assert!(matches!(err, Error::Rejected { rejection: Rejection::LimitExceeded, .. }));
//! ```

#![warn(missing_docs)]

mod backend;
pub mod cost;
mod host;
pub mod module;
mod outcome;
pub mod policy;
mod report;
mod run;
mod value;
pub mod wasi;

pub use backend::{
    Capabilities, DynModule, DynRuntime, ExportedState, LiveSandboxes, LiveSlot, Output, Runtime,
    Sandbox, Stats, runtime_panicked,
};
pub use cost::CostModel;
pub use host::{HostContext, HostError, HostFn, HostFunc, HostFunctions, checked_range};
pub use module::{CheckedModule, FuncType, ModuleInfo, check};
pub use outcome::{Error, Outcome, Rejection, Trap, outcome_of};
pub use policy::{Features, Limits, Policy, PolicyError, Preset, Size};
pub use report::Report;
pub use run::{HOST_STACK_MARGIN, Invocation, check_args, on_guest_thread, prepare, run};
pub use value::{RefKind, ValType, Value};

/// The import module name of WASI preview 1.
pub const WASI_MODULE: &str = "wasi_snapshot_preview1";
