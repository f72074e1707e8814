//! Cage: one policy, one trap taxonomy, several WebAssembly runtimes.
//!
//! Applications depend on this crate and pick runtimes with Cargo features:
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `wasmtime` | yes | runtime `wasmtime` ([`cage_wasmtime`]) |
//! | `wasmer` | yes | runtimes `wasmer-cranelift` (alias `wasmer`) and `wasmer-singlepass` ([`cage_wasmer`]) |
//!
//! Two ways in:
//!
//! - One runtime, no dynamic dispatch: [`DefaultRuntime`] (or a backend type) with the
//!   [`Runtime`] and [`Sandbox`] traits: compile once, make a sandbox per request, call.
//! - Any runtime by name: [`runtime`] returns a `Box<dyn DynRuntime>`; [`run()`] checks, compiles
//!   and runs a module on it and returns a [`Report`].
//!
//! ```
//! use cage::{Invocation, Policy, Value, HostFunctions};
//! let policy = Policy::default().with_fuel(Some(10_000));
//! let rt = cage::runtime(cage::default_runtime_name(), &policy).unwrap();
//! let wasm = cage::module::to_binary(b"(module (func (export \"spin\") (loop br 0)))").unwrap();
//! let report = cage::run(rt.as_ref(), &wasm, &HostFunctions::new(), &Invocation::call("spin", []));
//! assert_eq!(report.trap, Some(cage::Trap::OutOfFuel));
//! assert_eq!(report.fuel_consumed, Some(10_000));
//! ```
//!
//! The static path, as the README shows it:
//!
//! ```
//! use cage::{HostFunctions, Invocation, Policy, Runtime, Sandbox, Value};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let wasm_bytes = cage::module::to_binary(include_bytes!("../../examples/fib.wat"))?;
//! let policy = Policy::default().with_fuel(Some(1_000_000));
//! let rt = cage::default_runtime(&policy)?;
//! let checked = cage::check(&wasm_bytes, &policy)?;
//! let module = rt.compile(&checked, &HostFunctions::new())?;
//! let mut sandbox = rt.sandbox(&module)?;
//! sandbox.instantiate()?;
//! assert_eq!(sandbox.call("fib", &[Value::I64(20)])?, [Value::I64(6765)]);
//!
//! let rt = cage::runtime("wasmtime", &policy)?;
//! let report = cage::run(rt.as_ref(), &wasm_bytes, &HostFunctions::new(), &Invocation::call("fib", [Value::I64(20)]));
//! assert_eq!(report.values, [Value::I64(6765)]);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub use cage_core::*;

#[cfg(feature = "wasmer")]
pub use cage_wasmer::{Compiler as WasmerCompiler, WasmerModule, WasmerRuntime, WasmerSandbox};
#[cfg(feature = "wasmtime")]
pub use cage_wasmtime::{WasmtimeModule, WasmtimeRuntime, WasmtimeSandbox};

cfg_if::cfg_if! {
    if #[cfg(feature = "wasmer")] {
        /// The runtime applications get when they do not choose: Wasmer with Cranelift whenever
        /// the `wasmer` feature is on (Wasmtime stays the reference Wasmer is held to).
        pub type DefaultRuntime = cage_wasmer::WasmerRuntime;
        const DEFAULT_RUNTIME: &str = "wasmer-cranelift";
        /// Makes the default runtime for `policy`.
        ///
        /// # Errors
        /// A policy the runtime refuses.
        pub fn default_runtime(policy: &Policy) -> Result<DefaultRuntime, PolicyError> {
            cage_wasmer::WasmerRuntime::new(policy, cage_wasmer::Compiler::Cranelift)
        }
    } else if #[cfg(feature = "wasmtime")] {
        /// The runtime applications get when they do not choose: Wasmtime (Wasmer is not
        /// compiled in).
        pub type DefaultRuntime = cage_wasmtime::WasmtimeRuntime;
        const DEFAULT_RUNTIME: &str = "wasmtime";
        /// Makes the default runtime for `policy`.
        ///
        /// # Errors
        /// A policy the runtime refuses.
        pub fn default_runtime(policy: &Policy) -> Result<DefaultRuntime, PolicyError> {
            cage_wasmtime::WasmtimeRuntime::new(policy)
        }
    } else {
        compile_error!("enable at least one runtime feature of `cage`: `wasmtime` or `wasmer`");
    }
}

/// Every runtime name Cage knows, with the Cargo feature that compiles it in. `wasmer` is an
/// alias of `wasmer-cranelift`.
pub const KNOWN_RUNTIMES: &[(&str, &str)] = &[
    ("wasmtime", "wasmtime"),
    ("wasmer-cranelift", "wasmer"),
    ("wasmer-singlepass", "wasmer"),
    ("wasmer", "wasmer"),
];

/// Why a runtime could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The name is not a runtime Cage knows.
    #[error(
        "unknown runtime `{0}`; known runtimes: wasmtime, wasmer-cranelift, wasmer-singlepass, wasmer"
    )]
    Unknown(String),
    /// The runtime exists but this build does not include it.
    #[error("runtime `{name}` is not compiled in: enable the cargo feature `{feature}` of `cage`")]
    NotCompiledIn {
        /// Runtime name.
        name: String,
        /// Feature that adds it.
        feature: &'static str,
    },
    /// The policy is invalid or the runtime refuses it.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// The default runtime's name: `wasmer-cranelift` with the `wasmer` feature, else `wasmtime`.
pub fn default_runtime_name() -> &'static str {
    DEFAULT_RUNTIME
}

/// Names of the runtimes compiled into this build, in a stable order (aliases excluded).
pub fn available_runtimes() -> Vec<&'static str> {
    let mut v = Vec::new();
    if cfg!(feature = "wasmtime") {
        v.push("wasmtime");
    }
    if cfg!(feature = "wasmer") {
        v.push("wasmer-cranelift");
        v.push("wasmer-singlepass");
    }
    v
}

/// Makes the runtime `name` configured by `policy`.
///
/// # Errors
/// An unknown name, a runtime not compiled in (naming the feature to enable), or a policy the
/// runtime refuses.
pub fn runtime(name: &str, policy: &Policy) -> Result<Box<dyn DynRuntime>, RuntimeError> {
    match name {
        #[cfg(feature = "wasmtime")]
        "wasmtime" => Ok(Box::new(cage_wasmtime::WasmtimeRuntime::new(policy)?)),
        #[cfg(feature = "wasmer")]
        "wasmer-cranelift" | "wasmer" => Ok(Box::new(cage_wasmer::WasmerRuntime::new(
            policy,
            cage_wasmer::Compiler::Cranelift,
        )?)),
        #[cfg(feature = "wasmer")]
        "wasmer-singlepass" => Ok(Box::new(cage_wasmer::WasmerRuntime::new(
            policy,
            cage_wasmer::Compiler::Singlepass,
        )?)),
        _ => match KNOWN_RUNTIMES.iter().find(|(n, _)| *n == name) {
            Some((_, feature)) => Err(RuntimeError::NotCompiledIn {
                name: name.to_owned(),
                feature,
            }),
            None => Err(RuntimeError::Unknown(name.to_owned())),
        },
    }
}
