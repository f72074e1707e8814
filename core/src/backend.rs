//! The contract a runtime implements, and its object-safe twin for iterating over runtimes.
//!
//! [`Runtime`] is the minimum a backend writes: compile a checked module with its host
//! functions, make a sandbox (one store) from it, run guest code in the sandbox. Applications
//! that pick one runtime use it directly: no dynamic dispatch on the hot path. The conformance
//! suite and benchmarks hold runtimes as `Box<dyn DynRuntime>`, which every `Runtime` is by a
//! blanket impl. The ergonomic layer ([`crate::run`]) is written once on top of both.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::host::HostFunctions;
use crate::module::CheckedModule;
use crate::outcome::{Error, Rejection, Trap};
use crate::policy::{Features, Policy};
use crate::value::Value;

/// What a runtime can do, declared so that tests and reports read it instead of a list of
/// exceptions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Proposals this runtime can compile and run. A module that needs an allowed proposal
    /// outside this set is `rejected: unsupported`, naming it.
    pub features: Features,
    /// Whether WASI preview 1 imports can be provided.
    pub wasi: bool,
}

/// Counters a sandbox keeps while guest code runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Fuel consumed so far (start function and every call), `None` without metering.
    pub fuel_consumed: Option<u64>,
    /// Largest total size of the sandbox's linear memories seen, in bytes.
    pub peak_memory_bytes: u64,
}

/// Captured WASI output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Bytes written to stdout.
    pub stdout: Vec<u8>,
    /// Bytes written to stderr.
    pub stderr: Vec<u8>,
    /// Whether writes were refused because `limits.max_output` was reached.
    pub truncated: bool,
}

impl Output {
    /// The two streams as captured by a backend that holds up to `limit` bytes per stream,
    /// reported as at most `limit` bytes of both together. `truncated` when a stream reached the
    /// limit (a write past it was refused) or the two together exceed it.
    pub fn capped(mut stdout: Vec<u8>, mut stderr: Vec<u8>, limit: usize) -> Self {
        let truncated =
            stdout.len() >= limit || stderr.len() >= limit || stdout.len() + stderr.len() > limit;
        stdout.truncate(limit);
        stderr.truncate(limit - stdout.len());
        Output {
            stdout,
            stderr,
            truncated,
        }
    }
}

/// What an instance's exports hold after guest code ran: the state two runtimes must agree on
/// beyond returned values (differential testing, the spec testsuite's `get`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportedState {
    /// Exported globals, by export name, in export order.
    pub globals: Vec<(String, Value)>,
    /// Exported memories, by export name, in export order: size in bytes and the SHA-256 of the
    /// contents. Shared memories (threads) are left out: other threads may be writing them.
    pub memories: Vec<(String, u64, [u8; 32])>,
}

impl ExportedState {
    /// Records an exported memory by its contents.
    pub fn push_memory(&mut self, name: &str, contents: &[u8]) {
        use sha2::Digest;
        let hash: [u8; 32] = sha2::Sha256::digest(contents).into();
        self.memories
            .push((name.to_owned(), contents.len() as u64, hash));
    }

    /// The value of the exported global `name`.
    pub fn global(&self, name: &str) -> Option<Value> {
        self.globals
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }
}

/// A WebAssembly runtime configured by one [`Policy`].
pub trait Runtime: Send + Sync {
    /// A compiled module, cheap to clone, instantiable many times.
    type Module: Clone + Send + Sync;
    /// One sandbox: a store holding one instance.
    type Sandbox: Sandbox;

    /// The runtime's name: `wasmtime`, `wasmer-cranelift`, `wasmer-singlepass`.
    fn name(&self) -> &'static str;

    /// What this runtime can do.
    fn capabilities(&self) -> &Capabilities;

    /// The policy the runtime was built with.
    fn policy(&self) -> &Policy;

    /// Compiles a module that core has checked, binding its imports to `host` (and WASI).
    ///
    /// # Errors
    /// Rejections only: `unsupported`, `unresolved_import`, `limit_exceeded`.
    fn compile(&self, module: &CheckedModule, host: &HostFunctions) -> Result<Self::Module, Error>;

    /// Makes a new sandbox for `module`. No guest code runs yet.
    ///
    /// # Errors
    /// `rejected: limit_exceeded` when `limits.max_instances` sandboxes are alive.
    fn sandbox(&self, module: &Self::Module) -> Result<Self::Sandbox, Error>;
}

/// One store with one instance. Dropping it frees everything and the live-sandbox slot.
///
/// Not required to be `Send`: Wasmer's store must stay on the thread that made it. Make a
/// sandbox on the thread that uses it (the module it comes from is `Send + Sync`).
pub trait Sandbox {
    /// Instantiates the module: data and element segments, then the start function, under the
    /// fuel budget and deadline.
    ///
    /// # Errors
    /// Traps (including in the start function), or an exit from a WASI start function.
    fn instantiate(&mut self) -> Result<(), Error>;

    /// Calls an exported function under the fuel budget and deadline.
    ///
    /// # Errors
    /// Traps, WASI exits, and `rejected: invalid_invocation` for a missing export, a
    /// non-function, wrong arguments, or a sandbox that is not instantiated.
    fn call(&mut self, export: &str, args: &[Value]) -> Result<Vec<Value>, Error>;

    /// Fuel and memory counters (`&mut`: some runtimes need the store mutably to read globals).
    fn stats(&mut self) -> Stats;

    /// The exported globals and memories of the instance (empty before instantiation), exactly
    /// the guest's own: exports a backend adds for its bookkeeping never appear, and a guest's
    /// exports appear whatever their names.
    fn exported_state(&mut self) -> ExportedState;

    /// Takes the captured output so far.
    fn take_output(&mut self) -> Output {
        Output::default()
    }
}

/// The object-safe face of a [`Runtime`], for code that iterates over runtimes by name.
pub trait DynRuntime: Send + Sync {
    /// See [`Runtime::name`].
    fn name(&self) -> &'static str;
    /// See [`Runtime::capabilities`].
    fn capabilities(&self) -> &Capabilities;
    /// See [`Runtime::policy`].
    fn policy(&self) -> &Policy;
    /// See [`Runtime::compile`].
    ///
    /// # Errors
    /// As [`Runtime::compile`].
    fn compile_dyn(
        &self,
        module: &CheckedModule,
        host: &HostFunctions,
    ) -> Result<Box<dyn DynModule + '_>, Error>;
}

/// A compiled module behind a [`DynRuntime`].
pub trait DynModule: Send + Sync {
    /// See [`Runtime::sandbox`].
    ///
    /// # Errors
    /// As [`Runtime::sandbox`].
    fn sandbox(&self) -> Result<Box<dyn Sandbox + '_>, Error>;
}

struct Compiled<'r, R: Runtime> {
    runtime: &'r R,
    module: R::Module,
}

impl<R: Runtime> DynModule for Compiled<'_, R> {
    fn sandbox(&self) -> Result<Box<dyn Sandbox + '_>, Error> {
        Ok(Box::new(self.runtime.sandbox(&self.module)?))
    }
}

impl<R: Runtime> DynRuntime for R {
    fn name(&self) -> &'static str {
        Runtime::name(self)
    }
    fn capabilities(&self) -> &Capabilities {
        Runtime::capabilities(self)
    }
    fn policy(&self) -> &Policy {
        Runtime::policy(self)
    }
    fn compile_dyn(
        &self,
        module: &CheckedModule,
        host: &HostFunctions,
    ) -> Result<Box<dyn DynModule + '_>, Error> {
        Ok(Box::new(Compiled {
            runtime: self,
            module: self.compile(module, host)?,
        }))
    }
}

/// The live-sandbox count of one runtime, enforcing `limits.max_instances`. Every backend holds
/// one and keeps a [`LiveSlot`] in each sandbox.
#[derive(Clone, Debug, Default)]
pub struct LiveSandboxes(Arc<AtomicU32>);

/// One live sandbox; dropping it frees the slot.
#[derive(Debug)]
pub struct LiveSlot(Arc<AtomicU32>);

impl LiveSandboxes {
    /// Takes a slot if fewer than `max` sandboxes are alive.
    ///
    /// # Errors
    /// `rejected: limit_exceeded` naming the limit.
    pub fn acquire(&self, max: u32) -> Result<LiveSlot, Error> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|n| {
                Error::reject(
                    Rejection::LimitExceeded,
                    format!("{n} sandboxes are alive, limits.max_instances = {max}"),
                )
            })?;
        Ok(LiveSlot(self.0.clone()))
    }

    /// How many sandboxes are alive.
    pub fn live(&self) -> u32 {
        self.0.load(Ordering::Acquire)
    }
}

impl Drop for LiveSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The error for a runtime that panicked (caught by the backend): `trapped: other`, a bug to
/// report. The sandbox it happened in must not be used again.
pub fn runtime_panicked(runtime: &str, what: &str) -> Error {
    Error::trap(
        Trap::Other,
        format!("{runtime} panicked while {what}; this is a bug to report"),
    )
}
