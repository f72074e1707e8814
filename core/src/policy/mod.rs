//! The sandbox policy: limits, allowed proposals, WASI capabilities.
//!
//! A [`Policy`] is built from a [`Preset`] and then adjusted, in Rust with the `with_*` methods or
//! from a TOML policy file ([`Policy::from_toml`], [`Policy::from_file`]) whose absent keys keep
//! the preset's value. [`Policy::validate`] rejects impossible combinations, naming the settings;
//! [`crate::backend::runtime`], the one way to a runtime, calls it before any backend builds an
//! engine.
//!
//! Why one file over 800 lines: the policy's records, presets, builders and validation are one
//! contract (the TOML keys); features, units and `[wasi]` are submodules.

pub mod audit;
pub mod docs;
mod features;
mod units;
mod wasi;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use features::{Features, Proposal};
pub use units::{Limit, Size, format_duration, parse_duration};
pub use wasi::{Clock, Dir, DirMode, Random, Wasi};

use crate::cost::CostModel;

/// Errors from building, loading or validating a policy.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy file is not valid TOML or has an unknown key or a bad value.
    #[error("invalid policy: {0}")]
    Parse(String),
    /// The settings are individually valid but cannot be combined, or one is out of range.
    #[error("invalid policy: {0}")]
    Invalid(String),
    /// The policy file could not be read.
    #[error("cannot read policy file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::sync::Arc<std::io::Error>,
    },
}

impl PartialEq for PolicyError {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for PolicyError {}

/// Resource limits. Each field documents what it limits, its scope, what happens at the limit,
/// and its default in the `default` preset (`strict` / `permissive` in brackets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Limits {
    /// Fuel for one sandbox (its start function and every call into it), in units of the core
    /// cost model ([`CostModel`]): about one unit per instruction, one per function entered, one
    /// per byte or element of bulk memory and table operations. At zero the guest traps
    /// `out_of_fuel`. `None` disables metering, which makes code faster (no counting).
    /// Default: none [strict: 10 000 000; permissive: none].
    #[serde(serialize_with = "units::ser_fuel")]
    pub fuel: Option<u64>,
    /// With `fuel`: every call into the guest starts with the whole budget instead of what the
    /// sandbox's earlier calls left (for a long-lived instance serving many small requests).
    /// `fuel_consumed` still totals every call. Needs `fuel`. Default: false in every preset.
    pub fuel_per_call: bool,
    /// Wall-clock deadline for each call into the guest (instantiation with its start function
    /// counts as one call), counted from when the call starts. Past it the guest traps
    /// `timeout`: guest code is checked at loop back-edges and function entries, so it stops
    /// within about 1 % of the timeout (at least a millisecond) after the deadline, never
    /// before. Time in host functions counts: Cage's own WASI calls that wait (`poll_oneoff`
    /// clock waits, reads of the host's stdin) stop at the deadline; an application's host
    /// function cannot be stopped while it runs, so one that returns past the deadline ends the
    /// call `timeout` instead of returning to the guest (a host function that waits should
    /// wait at most until [`crate::HostContext::deadline`] and return
    /// [`crate::HostError::Timeout`]). Default: 10 s [strict: 1 s; permissive: none].
    #[serde(serialize_with = "units::ser_timeout")]
    pub timeout: Option<Duration>,
    /// Async calls (feature `async`) on a runtime with native async
    /// ([`crate::Capabilities::native_async`]: Wasmtime): how long a guest that computes may
    /// hold an executor thread before it yields it to the executor's other tasks, and picks up
    /// where it stopped when polled again. The guest notices at its next deadline check (loop
    /// back-edges and function entries) after a tick of the runtime's deadline clock, so it
    /// yields within about one tick (0.5 ms at the shortest) after the interval. Yielding
    /// changes no outcome and no fuel: a yielded guest is the same guest, and its deadline
    /// keeps counting while it waits to be resumed. Guests yield at the deadline checks a
    /// `timeout` compiles in: on a runtime without a `timeout` (the `permissive` preset) an
    /// async guest runs to its end once polled, and Wasmtime compiles exactly what it would
    /// without Cage. What it costs: the deadline clock's thread ticks at least this often
    /// while guests run; each yield is a fiber switch and a reschedule (about a microsecond). Sync
    /// calls and runtimes without native async (Wasmer, whose async guests run on their own
    /// threads and are preempted by the OS) ignore it. Range: 0.5 ms to 1 s. Default: 1 ms
    /// in every preset: what a server's executor tolerates between awaits, and what lets a
    /// thousand guests spinning on two threads all stop within a few milliseconds of their
    /// deadlines.
    #[serde(serialize_with = "units::ser_duration")]
    pub yield_interval: Duration,
    /// Maximum size of each linear memory, in bytes. A module that declares a larger initial
    /// size is `rejected: limit_exceeded`; `memory.grow` past it returns -1 (or traps
    /// `resource_limit` with `trap_on_grow_failure`). Default: 64 MiB [16 MiB; 4 GiB].
    pub max_memory: Size,
    /// Maximum elements of each table, same rules as `max_memory`, for tables with and without
    /// a declared maximum. Default: 10 000 [1 000; 1 000 000].
    pub max_table_elements: u64,
    /// Linear memories per module, imported plus defined; more is `rejected: limit_exceeded`.
    /// Default: 1 [1; 16].
    pub max_memories: u32,
    /// Tables per module, imported plus defined; more is `rejected: limit_exceeded`.
    /// Default: 1 [1; 16].
    pub max_tables: u32,
    /// Live sandboxes (instances) per runtime at once; one more is `rejected: limit_exceeded`.
    /// Default: 1 000 [100; 10 000].
    pub max_instances: u32,
    /// Native stack the guest may use. Deeper recursion traps `stack_overflow`. The thread that
    /// calls into the guest must have this much stack plus room for the host (the `cage` CLI and
    /// the conformance runner run guests on a thread sized for it). Default: 512 KiB
    /// [256 KiB; 4 MiB]. Range: 16 KiB to 64 MiB.
    pub max_stack: Size,
    /// Maximum size of the module binary; larger is `rejected: limit_exceeded` before parsing.
    /// Default: 32 MiB [4 MiB; 256 MiB].
    pub max_module_size: Size,
    /// Maximum captured stdout plus stderr of a WASI guest; past it writes fail and the report
    /// says `output_truncated`. Default: 1 MiB [64 KiB; 64 MiB].
    pub max_output: Size,
    /// When `true`, a `memory.grow` or `table.grow` that fails traps `resource_limit` instead of
    /// returning -1. Default: false [false; false].
    pub trap_on_grow_failure: bool,
    /// Compile-bomb guard: functions per module (imported plus defined); more is
    /// `rejected: limit_exceeded`. Default: 100 000 [10 000; 1 000 000].
    pub max_functions: u32,
    /// Compile-bomb guard: size of one function body in bytes. Default: 2 MiB [256 KiB; 7 MiB].
    pub max_function_size: Size,
    /// Compile-bomb guard: locals of one function, parameters included. Default: 10 000
    /// [2 000; 50 000].
    pub max_locals: u32,
    /// Compile-bomb guard: nesting depth of blocks, loops, ifs and trys in one function.
    /// Default: 5 000 [500; 50 000].
    pub max_nesting: u32,
    /// Compile-bomb guard: data segments per module. Wasmtime before 48.0.8 panicked compiling
    /// modules with more than about 32 000. Default: 30 000 [1 000; 30 000].
    pub max_data_segments: u32,
    /// How much address space each linear memory reserves: `full` (4 GiB plus guards, so that
    /// compiled code needs no bounds checks: fastest) or `max_memory` (`max_memory` plus a
    /// 64 KiB guard, with explicit bounds checks in compiled code: many more sandboxes per
    /// process, slower memory-bound code). Not a limit: the guest sees the same either way.
    /// Default: full in every preset.
    pub memory_reservation: MemoryReservation,
    /// WASI: descriptors one sandbox may hold open at once, stdio and preopens included. A
    /// `path_open` past it fails with `EMFILE`; a policy whose preopens alone exceed it is
    /// invalid. Every descriptor that holds a host file is also charged to the process budget
    /// ([`crate::budget`]), which answers `ENFILE` when the process as a whole is at its limit.
    /// Default: 256 [64; 4 096].
    pub max_open_files: u32,
    /// WASI: bytes by which a sandbox may grow files under its read-write preopens, over its
    /// whole life: writes past the end of a file, `fd_filestat_set_size` and `fd_allocate`
    /// count the growth they cause (a write at offset 2^40 counts 2^40 bytes: sparse files are
    /// no way around it); overwriting, truncating and deleting neither count nor give back. A
    /// write that does not fit writes what fits (a short write), then `ENOSPC`.
    /// Default: 1 GiB [16 MiB; 64 GiB].
    pub max_disk_write: Size,
    /// WASI: files, directories and links (symbolic and hard) a sandbox may create over its
    /// whole life. Past it creating one fails with `EDQUOT` (a quota, not a full disk).
    /// Default: 10 000 [1 000; 1 000 000].
    pub max_files_created: u32,
    /// WASI: bytes one WASI call may take from the guest, whatever the fuel: paths, iovec
    /// tables and the buffer a read or write uses, poll subscriptions, and the bytes
    /// `random_get` is asked for; also the size of one directory listing. Past it the call
    /// fails with `ENOMEM` before a pointer is checked or the host allocates or does anything,
    /// as `wasmtime-wasi`'s per-call "hostcall fuel" (128 MiB) does. Bulk data moves through a
    /// 64 KiB buffer whatever this is, so it bounds work per call, not host memory.
    /// Default: 128 MiB [16 MiB; 1 GiB]. At least 64 KiB.
    pub max_io_per_call: Size,
}

/// How much address space each linear memory reserves (`limits.memory_reservation`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MemoryReservation {
    /// 4 GiB plus guard regions: compiled code elides bounds checks.
    #[default]
    Full,
    /// `max_memory` plus a 64 KiB guard: explicit bounds checks; a small sandbox costs little
    /// address space and few mappings.
    MaxMemory,
}

impl MemoryReservation {
    /// `full` or `max_memory`.
    pub fn name(self) -> &'static str {
        match self {
            MemoryReservation::Full => "full",
            MemoryReservation::MaxMemory => "max_memory",
        }
    }
}

/// The guard region after a memory reserved at `max_memory` (`MemoryReservation::MaxMemory`).
pub const SMALL_MEMORY_GUARD: u64 = 64 * 1024;

/// A sandbox policy: limits, allowed proposals, WASI capabilities and the fuel cost model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Policy {
    /// Resource limits.
    pub limits: Limits,
    /// Allowed WebAssembly proposals.
    pub features: Features,
    /// WASI capabilities.
    pub wasi: Wasi,
    /// Fuel cost of each operator (not a policy-file section: set it in Rust).
    #[serde(skip)]
    pub costs: CostModel,
}

/// A named starting point for a policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Preset {
    /// Tight limits, fuel and a 1 s deadline, WebAssembly 2.0 without SIMD.
    Strict,
    /// Moderate limits, no fuel, no deadline, WebAssembly 2.0 (SIMD on, threads off).
    #[default]
    Default,
    /// Generous limits, no fuel, no deadline, WebAssembly 3.0 without threads.
    Permissive,
}

impl Preset {
    /// Every preset, in order of strictness.
    pub const ALL: [Preset; 3] = [Preset::Strict, Preset::Default, Preset::Permissive];

    /// The preset's name as used in policy files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Strict => "strict",
            Preset::Default => "default",
            Preset::Permissive => "permissive",
        }
    }

    /// The policy this preset stands for.
    pub fn policy(self) -> Policy {
        let (limits, features) = match self {
            Preset::Strict => (
                Limits {
                    fuel: Some(10_000_000),
                    fuel_per_call: false,
                    timeout: Some(Duration::from_secs(1)),
                    yield_interval: DEFAULT_YIELD_INTERVAL,
                    max_memory: Size::mib(16),
                    max_table_elements: 1_000,
                    max_memories: 1,
                    max_tables: 1,
                    max_instances: 100,
                    max_stack: Size::kib(256),
                    max_module_size: Size::mib(4),
                    max_output: Size::kib(64),
                    trap_on_grow_failure: false,
                    max_functions: 10_000,
                    max_function_size: Size::kib(256),
                    max_locals: 2_000,
                    max_nesting: 500,
                    max_data_segments: 1_000,
                    memory_reservation: MemoryReservation::Full,
                    max_open_files: 64,
                    max_disk_write: Size::mib(16),
                    max_files_created: 1_000,
                    max_io_per_call: Size::mib(16),
                },
                Features::WASM2.with(Proposal::Simd, false),
            ),
            Preset::Default => (
                Limits {
                    fuel: None,
                    fuel_per_call: false,
                    // Finite, so that a forgotten flag never leaves a guest running forever: long
                    // enough for any request-sized job (and most batch jobs) on a slow machine,
                    // short enough to notice. `permissive` is the explicit way to run unbounded.
                    timeout: Some(Duration::from_secs(10)),
                    yield_interval: DEFAULT_YIELD_INTERVAL,
                    max_memory: Size::mib(64),
                    max_table_elements: 10_000,
                    max_memories: 1,
                    max_tables: 1,
                    max_instances: 1_000,
                    max_stack: Size::kib(512),
                    // Common real programs fit (CPython 3.12: 26 MB, 24 171 data segments):
                    // see docs/policy.md, "Why the default preset admits real programs".
                    max_module_size: Size::mib(32),
                    max_output: Size::mib(1),
                    trap_on_grow_failure: false,
                    max_functions: 100_000,
                    max_function_size: Size::mib(2),
                    max_locals: 10_000,
                    max_nesting: 5_000,
                    max_data_segments: 30_000,
                    memory_reservation: MemoryReservation::Full,
                    max_open_files: 256,
                    max_disk_write: Size::gib(1),
                    max_files_created: 10_000,
                    max_io_per_call: Size::mib(128),
                },
                Features::WASM2,
            ),
            Preset::Permissive => (
                Limits {
                    fuel: None,
                    fuel_per_call: false,
                    timeout: None,
                    yield_interval: DEFAULT_YIELD_INTERVAL,
                    max_memory: Size::gib(4),
                    max_table_elements: 1_000_000,
                    max_memories: 16,
                    max_tables: 16,
                    max_instances: 10_000,
                    max_stack: Size::mib(4),
                    max_module_size: Size::mib(256),
                    max_output: Size::mib(64),
                    trap_on_grow_failure: false,
                    max_functions: 1_000_000,
                    max_function_size: Size::mib(7),
                    max_locals: 50_000,
                    max_nesting: 50_000,
                    max_data_segments: 30_000,
                    memory_reservation: MemoryReservation::Full,
                    max_open_files: 4_096,
                    max_disk_write: Size::gib(64),
                    max_files_created: 1_000_000,
                    max_io_per_call: Size::gib(1),
                },
                Features::WASM3_NO_THREADS,
            ),
        };
        Policy {
            limits,
            features,
            wasi: Wasi::default(),
            costs: CostModel::default(),
        }
    }
}

impl std::str::FromStr for Preset {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                PolicyError::Invalid(format!(
                    "unknown preset `{s}`: expected strict, default or permissive"
                ))
            })
    }
}

impl Default for Policy {
    fn default() -> Self {
        Preset::Default.policy()
    }
}

/// The largest fuel budget (`limits.fuel`, [`crate::Sandbox::set_fuel`]): `i64::MAX`, what every
/// runtime represents exactly (Wasmer's metering keeps fuel in a signed 64-bit global).
/// About 290 years of guest code at a billion instructions a second.
pub const MAX_FUEL: u64 = i64::MAX as u64;

/// The smallest `limits.max_io_per_call`: below it, ordinary reads and writes would be cut
/// into pieces too small to be useful.
pub const MIN_IO_PER_CALL: Size = Size::kib(64);

/// Bounds on `max_stack`: below the lower one no real program runs, above the upper one no
/// host thread can honour it.
pub const MAX_STACK_RANGE: (Size, Size) = (Size::kib(16), Size::mib(64));

/// `limits.yield_interval` in every preset: 1 ms (see [`Limits::yield_interval`]).
pub const DEFAULT_YIELD_INTERVAL: Duration = Duration::from_millis(1);

/// The range `limits.yield_interval` is validated against: from the shortest tick of the
/// deadline clock (0.5 ms) to a second.
pub const YIELD_INTERVAL_RANGE: (Duration, Duration) =
    (Duration::from_micros(500), Duration::from_secs(1));

impl Policy {
    /// The policy of a preset.
    pub fn preset(p: Preset) -> Self {
        p.policy()
    }

    /// Parses a TOML policy document over the `default` preset (or the preset named by its
    /// top-level `preset` key). Relative `[[wasi.dirs]]` paths stay relative to the current
    /// directory; use [`Policy::from_file`] to resolve them against the file.
    ///
    /// # Errors
    /// Syntax errors, unknown keys (named), bad values, and invalid combinations.
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        PolicyOverlay::from_toml(text)?.apply(Preset::Default.policy(), None)
    }

    /// Reads a TOML policy file; see [`Policy::from_toml`].
    ///
    /// # Errors
    /// As [`Policy::from_toml`], plus I/O errors naming the file.
    pub fn from_file(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            path: path.to_owned(),
            source: std::sync::Arc::new(source),
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        PolicyOverlay::from_toml(&text)?.apply(Preset::Default.policy(), Some(dir))
    }

    /// Renders the policy as a TOML policy file (every key explicit).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render policy: {e}\n"))
    }

    /// Sets the fuel budget (`None` = no metering).
    #[must_use]
    pub fn with_fuel(mut self, fuel: Option<u64>) -> Self {
        self.limits.fuel = fuel;
        self
    }

    /// Sets the per-call deadline (`None` = no deadline).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.limits.timeout = timeout;
        self
    }

    /// Sets the per-memory size cap.
    #[must_use]
    pub fn with_max_memory(mut self, bytes: u64) -> Self {
        self.limits.max_memory = Size(bytes);
        self
    }

    /// Sets the per-table element cap.
    #[must_use]
    pub fn with_max_table_elements(mut self, n: u64) -> Self {
        self.limits.max_table_elements = n;
        self
    }

    /// Sets the guest stack size.
    #[must_use]
    pub fn with_max_stack(mut self, bytes: u64) -> Self {
        self.limits.max_stack = Size(bytes);
        self
    }

    /// Sets whether failed grows trap.
    #[must_use]
    pub fn with_trap_on_grow_failure(mut self, on: bool) -> Self {
        self.limits.trap_on_grow_failure = on;
        self
    }

    /// Sets how much address space each memory reserves.
    #[must_use]
    pub fn with_memory_reservation(mut self, r: MemoryReservation) -> Self {
        self.limits.memory_reservation = r;
        self
    }

    /// Grants a WASI guest the host directory `host` at the guest path `guest` (absolute, or
    /// `.` for the working directory), read-only or read-write (`[[wasi.dirs]]`).
    #[must_use]
    pub fn with_dir(
        mut self,
        host: impl Into<std::path::PathBuf>,
        guest: impl Into<String>,
        mode: DirMode,
    ) -> Self {
        self.wasi.dirs.push(Dir::new(host, guest, mode));
        self
    }

    /// Sets a WASI guest's `argv`, `argv[0]` included (`wasi.args`).
    #[must_use]
    pub fn with_args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.wasi.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Adds one variable to a WASI guest's environment (`wasi.env`; the host's is never
    /// inherited).
    #[must_use]
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.wasi.env.insert(key.into(), value.into());
        self
    }

    /// Gives a WASI guest these bytes on stdin (`wasi.stdin`).
    #[must_use]
    pub fn with_stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.wasi.stdin = Some(bytes.into());
        self
    }

    /// Allows or forbids a proposal.
    #[must_use]
    pub fn with_feature(mut self, proposal: Proposal, enabled: bool) -> Self {
        self.features.set(proposal, enabled);
        self
    }

    /// Checks ranges and combinations. [`crate::backend::runtime`] calls it before any backend builds
    /// an engine.
    ///
    /// # Errors
    /// The first problem found, naming the settings involved.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let l = &self.limits;
        let bad = |m: String| Err(PolicyError::Invalid(m));
        if let Some(f) = l.fuel.filter(|f| *f > MAX_FUEL) {
            return bad(format!(
                "limits.fuel = {f} is above {MAX_FUEL}, the largest budget every runtime \
                 represents exactly (i64::MAX; Wasmer's metering counts in a signed 64-bit \
                 global)"
            ));
        }
        if l.fuel_per_call && l.fuel.is_none() {
            return bad("limits.fuel_per_call = true needs a limits.fuel budget".into());
        }
        if l.timeout == Some(Duration::ZERO) {
            return bad("limits.timeout must be longer than 0 (omit it for no deadline)".into());
        }
        let (lo, hi) = YIELD_INTERVAL_RANGE;
        if l.yield_interval < lo || l.yield_interval > hi {
            return bad(format!(
                "limits.yield_interval = {} is outside {} ..= {}",
                format_duration(l.yield_interval),
                format_duration(lo),
                format_duration(hi)
            ));
        }
        let (lo, hi) = MAX_STACK_RANGE;
        if l.max_stack < lo || l.max_stack > hi {
            return bad(format!(
                "limits.max_stack = {} is outside {lo} ..= {hi}",
                l.max_stack
            ));
        }
        let f = &self.features;
        let needs = [
            (Proposal::RelaxedSimd, Proposal::Simd),
            (Proposal::FunctionReferences, Proposal::ReferenceTypes),
            (Proposal::Gc, Proposal::FunctionReferences),
            (Proposal::Gc, Proposal::ReferenceTypes),
            (Proposal::Exceptions, Proposal::ReferenceTypes),
            (Proposal::StackSwitching, Proposal::FunctionReferences),
            (Proposal::SharedEverythingThreads, Proposal::Threads),
        ];
        for (feature, requires) in needs {
            if f.contains(feature) && !f.contains(requires) {
                return bad(format!(
                    "features.{feature} = true requires features.{requires} = true"
                ));
            }
        }
        if l.max_io_per_call < MIN_IO_PER_CALL {
            return bad(format!(
                "limits.max_io_per_call = {} is below {MIN_IO_PER_CALL}",
                l.max_io_per_call
            ));
        }
        // stdio and every preopen hold a descriptor from the start.
        let at_start = 3 + self.wasi.dirs.len() as u64;
        if u64::from(l.max_open_files) < at_start {
            return bad(format!(
                "limits.max_open_files = {} is below the {at_start} descriptors a sandbox holds \
                 from the start (stdio and {} wasi.dirs)",
                l.max_open_files,
                self.wasi.dirs.len()
            ));
        }
        let mut guests = std::collections::BTreeSet::new();
        for d in &self.wasi.dirs {
            if !d.guest.starts_with('/') && d.guest != "." {
                return bad(format!(
                    "wasi.dirs guest path `{}` must be absolute (e.g. \"/data\") or \".\" \
                     (the guest's working directory)",
                    d.guest
                ));
            }
            if !guests.insert(d.guest.as_str()) {
                return bad(format!("wasi.dirs guest path `{}` is given twice", d.guest));
            }
        }
        for k in self.wasi.env.keys() {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                return bad(format!("wasi.env key `{k}` is not a valid variable name"));
            }
        }
        Ok(())
    }
}

impl Policy {
    /// Checks that every `[[wasi.dirs]]` host directory exists and is a directory, so that no
    /// sandbox starts with fewer directories than the policy grants, and that no grant is
    /// exposed through another. Runtimes call it when they are built.
    ///
    /// Paths are compared both as written (made absolute, `.` and `..` removed without
    /// following links) and resolved (symbolic links followed):
    /// - the same host directory granted twice is refused (one grant per directory, so that
    ///   its mode is the one written);
    /// - a grant at or inside a read-write grant is refused, whatever its mode: through the
    ///   read-write grant a guest could change it (if read-only) or replace it or a directory on
    ///   its path with a link to anywhere, which the next runtime made with the same policy
    ///   would follow;
    /// - grants inside a read-only grant are allowed: each gives exactly what it says.
    ///
    /// (A sandbox's preopens are opened once, when the runtime's WASI is set up, so a guest
    /// cannot redirect those of the other sandboxes of the same runtime either.)
    ///
    /// # Errors
    /// The first directory that is missing or not a directory, or the first overlap, naming
    /// both grants.
    pub fn check_host_dirs(&self) -> Result<(), PolicyError> {
        let mut canonical = Vec::with_capacity(self.wasi.dirs.len());
        for d in &self.wasi.dirs {
            let path = std::fs::canonicalize(&d.host)
                .ok()
                .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.is_dir()))
                .ok_or_else(|| {
                    PolicyError::Invalid(format!(
                        "wasi.dirs: {} (for {}) is not a directory that can be opened",
                        d.host.display(),
                        d.guest
                    ))
                })?;
            canonical.push(path);
        }
        let grant = |i: usize| {
            let d = &self.wasi.dirs[i];
            format!(
                "{} ({}, {})",
                d.host.display(),
                d.guest,
                match d.mode {
                    DirMode::Ro => "ro",
                    DirMode::Rw => "rw",
                }
            )
        };
        let written: Vec<PathBuf> = self.wasi.dirs.iter().map(|d| lexical(&d.host)).collect();
        let n = canonical.len();
        for i in 0..n {
            for j in i + 1..n {
                if canonical[i] == canonical[j] || written[i] == written[j] {
                    return Err(PolicyError::Invalid(format!(
                        "wasi.dirs: {} and {} grant the same host directory {}; grant it once",
                        grant(i),
                        grant(j),
                        canonical[i].display()
                    )));
                }
                for (outer, inner) in [(i, j), (j, i)] {
                    let nested = canonical[inner].starts_with(&canonical[outer])
                        || written[inner].starts_with(&written[outer]);
                    if self.wasi.dirs[outer].mode == DirMode::Rw && nested {
                        return Err(PolicyError::Invalid(format!(
                            "wasi.dirs: {} is inside the read-write {}, through which a guest \
                             could change it or replace it with a link to anywhere; grant \
                             separate directories",
                            grant(inner),
                            grant(outer)
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// `path` made absolute (against the current directory) with `.` and `..` removed, without
/// following symbolic links: the path as written.
fn lexical(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for c in absolute.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A partial policy as written in a policy file or a conformance case: every key optional,
/// unknown keys rejected. [`PolicyOverlay::apply`] lays it over a base policy.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyOverlay {
    /// Name of the preset to start from (`strict`, `default`, `permissive`); when present it
    /// replaces the base policy given to [`PolicyOverlay::apply`].
    #[serde(default)]
    pub preset: Option<String>,
    #[serde(default)]
    limits: LimitsOverlay,
    #[serde(default)]
    features: BTreeMap<String, bool>,
    #[serde(default)]
    wasi: Option<WasiOverlay>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsOverlay {
    #[serde(default, deserialize_with = "units::de_fuel")]
    fuel: Option<Limit<u64>>,
    #[serde(default, deserialize_with = "units::de_timeout")]
    timeout: Option<Limit<Duration>>,
    #[serde(default, deserialize_with = "units::de_duration")]
    yield_interval: Option<Duration>,
    max_memory: Option<Size>,
    max_table_elements: Option<u64>,
    max_memories: Option<u32>,
    max_tables: Option<u32>,
    max_instances: Option<u32>,
    max_stack: Option<Size>,
    max_module_size: Option<Size>,
    max_output: Option<Size>,
    trap_on_grow_failure: Option<bool>,
    fuel_per_call: Option<bool>,
    max_functions: Option<u32>,
    max_function_size: Option<Size>,
    max_locals: Option<u32>,
    max_nesting: Option<u32>,
    max_data_segments: Option<u32>,
    memory_reservation: Option<MemoryReservation>,
    max_open_files: Option<u32>,
    max_disk_write: Option<Size>,
    max_files_created: Option<u32>,
    max_io_per_call: Option<Size>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WasiOverlay {
    args: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    stdin: Option<String>,
    inherit_stdio: Option<bool>,
    clock: Option<Clock>,
    random: Option<Random>,
    dirs: Option<Vec<Dir>>,
}

impl PolicyOverlay {
    /// Parses a TOML document.
    ///
    /// # Errors
    /// Syntax errors and unknown keys, with the key's name and position.
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        toml::from_str(text).map_err(|e| PolicyError::Parse(e.to_string().trim_end().to_owned()))
    }

    /// Deserialises an already-parsed TOML table (e.g. a conformance case without its `[case]`).
    ///
    /// # Errors
    /// Unknown keys and bad values.
    pub fn from_table(table: toml::Table) -> Result<Self, PolicyError> {
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| PolicyError::Parse(e.to_string().trim_end().to_owned()))
    }

    /// Lays the overlay over `base` (or over its `preset`), resolves relative directory paths
    /// against `dir`, and validates the result.
    ///
    /// # Errors
    /// Unknown preset or feature names, and everything [`Policy::validate`] rejects.
    pub fn apply(&self, base: Policy, dir: Option<&Path>) -> Result<Policy, PolicyError> {
        let mut p = match &self.preset {
            Some(name) => Policy {
                costs: base.costs,
                ..name.parse::<Preset>()?.policy()
            },
            None => base,
        };
        let o = &self.limits;
        let l = &mut p.limits;
        if let Some(v) = o.fuel {
            l.fuel = v.into_option();
        }
        if let Some(v) = o.timeout {
            l.timeout = v.into_option();
        }
        macro_rules! set {
            ($($k:ident),*) => { $( if let Some(v) = o.$k { l.$k = v; } )* };
        }
        set!(
            yield_interval,
            max_memory,
            max_table_elements,
            max_memories,
            max_tables,
            max_instances,
            max_stack,
            max_module_size,
            max_output,
            trap_on_grow_failure,
            fuel_per_call,
            max_functions,
            max_function_size,
            max_locals,
            max_nesting,
            max_data_segments,
            memory_reservation,
            max_open_files,
            max_disk_write,
            max_files_created,
            max_io_per_call
        );
        p.features
            .apply(&self.features)
            .map_err(PolicyError::Invalid)?;
        if let Some(w) = &self.wasi {
            let t = &mut p.wasi;
            if let Some(v) = &w.args {
                t.args = v.clone();
            }
            if let Some(v) = &w.env {
                t.env = v.clone();
            }
            if let Some(v) = &w.stdin {
                t.stdin = Some(v.clone().into_bytes());
            }
            if let Some(v) = w.inherit_stdio {
                t.inherit_stdio = v;
            }
            if let Some(v) = w.clock {
                t.clock = v;
            }
            if let Some(v) = w.random {
                t.random = v;
            }
            if let Some(dirs) = &w.dirs {
                t.dirs = dirs
                    .iter()
                    .map(|d| Dir {
                        host: match dir {
                            Some(base) if d.host.is_relative() => base.join(&d.host),
                            _ => d.host.clone(),
                        },
                        ..d.clone()
                    })
                    .collect();
            }
        }
        p.validate()?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests;
