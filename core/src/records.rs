//! The records a runtime and a sandbox report: what a runtime can do, what a sandbox used, what
//! a guest wrote, what its exports hold. Each may grow: they are `#[non_exhaustive]` and made
//! with constructors.

use crate::policy::Features;
use crate::value::Value;

/// What a runtime can do, declared so that tests and reports read it instead of a list of
/// exceptions.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Proposals this runtime can compile and run. A module that needs an allowed proposal
    /// outside this set is `rejected: unsupported`, naming it.
    pub features: Features,
    /// Whether the runtime can import functions with more than one result (part of
    /// `multi_value`; Wasmer's Singlepass compiler cannot compile such an import). A module
    /// that imports one when this is `false` is `rejected: unsupported`.
    pub multi_result_imports: bool,
    /// Whether the runtime can make tables and element segments of other references than
    /// `funcref` and `externref` (`exnref`, `anyref`, typed references; Wasmer 7.3 cannot,
    /// though it runs exceptions). A module with such a table or segment when this is `false`
    /// is `rejected: unsupported`.
    pub other_table_elements: bool,
    /// Whether async calls run natively on the application's executor (the `async` feature,
    /// `cage_core::async_api`): the guest runs on a small stack of its own (a fiber) that the
    /// executor's threads poll, yields every `limits.yield_interval`, and thousands of guests
    /// share a few threads. When `false`, each async sandbox runs its guest on an OS thread of
    /// its own, which the futures await (Wasmer 7.3: see docs/rust.md, "Async"). Outcomes,
    /// traps and fuel are the same either way. `false` unless the backend says otherwise.
    pub native_async: bool,
}

impl Capabilities {
    /// A runtime that runs `features` (all of each). (Import sets such as WASI are not a
    /// runtime's capability: they are host functions, which every runtime links.)
    pub fn new(features: Features) -> Self {
        Capabilities {
            features,
            multi_result_imports: true,
            other_table_elements: true,
            native_async: false,
        }
    }

    /// The same, for a runtime whose async calls run natively on the executor (see
    /// [`Capabilities::native_async`]).
    #[must_use]
    pub fn with_native_async(mut self) -> Self {
        self.native_async = true;
        self
    }

    /// The same, for a runtime that makes tables of `funcref` and `externref` only.
    #[must_use]
    pub fn with_plain_tables_only(mut self) -> Self {
        self.other_table_elements = false;
        self
    }

    /// The same, for a runtime that cannot import functions with more than one result.
    #[must_use]
    pub fn without_multi_result_imports(mut self) -> Self {
        self.multi_result_imports = false;
        self
    }
}

/// Counters a sandbox keeps while guest code runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Fuel consumed so far (start function and every call), `None` without metering.
    pub fuel_consumed: Option<u64>,
    /// Largest total size of the sandbox's linear memories seen, in bytes.
    pub peak_memory_bytes: u64,
    /// Largest size any one of the sandbox's tables reached, in elements (what
    /// `limits.max_table_elements` caps).
    pub peak_table_elements: u64,
}

impl Stats {
    /// Counters with these values.
    pub fn new(fuel_consumed: Option<u64>, peak_memory_bytes: u64) -> Self {
        Stats {
            fuel_consumed,
            peak_memory_bytes,
            peak_table_elements: 0,
        }
    }

    /// With the largest table size seen.
    #[must_use]
    pub fn with_peak_table_elements(mut self, elements: u64) -> Self {
        self.peak_table_elements = elements;
        self
    }
}

/// Captured WASI output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Output {
    /// Bytes written to stdout.
    pub stdout: Vec<u8>,
    /// Bytes written to stderr.
    pub stderr: Vec<u8>,
    /// Whether writes were refused because `limits.max_output` was reached.
    pub truncated: bool,
}

impl Output {
    /// The two streams as captured by a sandbox that holds up to `limit` bytes per stream,
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
#[non_exhaustive]
pub struct ExportedState {
    /// Exported globals, by export name, in export order.
    pub globals: Vec<(String, Value)>,
    /// Exported memories, by export name, in export order: size in bytes and the SHA-256 of the
    /// contents. Shared memories (threads) are left out: other threads may be writing them.
    pub memories: Vec<(String, u64, [u8; 32])>,
}

impl ExportedState {
    /// Records an exported global.
    pub fn push_global(&mut self, name: &str, value: Value) {
        self.globals.push((name.to_owned(), value));
    }

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
