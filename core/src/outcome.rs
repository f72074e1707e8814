//! The trap and outcome taxonomy shared by every runtime.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::value::Value;

macro_rules! names {
    ($(#[$meta:meta])* pub enum $ty:ident { $($(#[$vmeta:meta])* $var:ident = $name:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum $ty { $($(#[$vmeta])* $var,)* }

        impl $ty {
            /// Every name, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$var,)*];

            /// The snake_case name used in JSON reports, conformance cases and the CLI.
            pub fn name(self) -> &'static str {
                match self { $($ty::$var => $name,)* }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name => Ok($ty::$var),)*
                    _ => Err(format!(concat!("unknown ", stringify!($ty), " name `{}`"), s)),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

names! {
    /// Why a running guest was stopped. Every runtime's trap codes map onto these names.
    pub enum Trap {
        /// The fuel budget (`limits.fuel`) ran out.
        OutOfFuel = "out_of_fuel",
        /// The wall-clock deadline (`limits.timeout`) passed.
        Timeout = "timeout",
        /// The guest exhausted its stack (`limits.max_stack`).
        StackOverflow = "stack_overflow",
        /// A load, store or bulk memory operation outside linear memory, also in a data segment.
        MemoryOutOfBounds = "memory_out_of_bounds",
        /// A table access outside the table, also in an element segment.
        TableOutOfBounds = "table_out_of_bounds",
        /// `call_indirect` to a null table entry.
        IndirectCallToNull = "indirect_call_to_null",
        /// `call_indirect` whose callee has another signature.
        BadSignature = "bad_signature",
        /// Signed division overflow (`INT_MIN / -1`).
        IntegerOverflow = "integer_overflow",
        /// Integer division or remainder by zero.
        IntegerDivisionByZero = "integer_division_by_zero",
        /// Float-to-integer conversion of NaN or an out-of-range value.
        BadConversionToInteger = "bad_conversion_to_integer",
        /// An `unreachable` instruction was executed.
        Unreachable = "unreachable",
        /// A misaligned atomic access, or a misaligned pointer passed to WASI.
        HeapMisaligned = "heap_misaligned",
        /// A null reference was dereferenced (`call_ref`, `struct.get`, `br_on_non_null` ...).
        NullReference = "null_reference",
        /// A grow failed with `trap_on_grow_failure`, or another limit was hit while running.
        ResourceLimit = "resource_limit",
        /// A host function returned an error.
        HostError = "host_error",
        /// A GC array access out of bounds.
        ArrayOutOfBounds = "array_out_of_bounds",
        /// A failed `ref.cast`.
        CastFailure = "cast_failure",
        /// An exception left the guest uncaught.
        UncaughtException = "uncaught_exception",
        /// `memory.atomic.wait` on an unshared memory.
        AtomicWaitNonSharedMemory = "atomic_wait_non_shared_memory",
        /// A trap Cage cannot classify. Never expected on a known input: it means a mapping is
        /// missing, and is a bug to report.
        Other = "other",
    }
}

names! {
    /// Why a module was refused before it ran.
    pub enum Rejection {
        /// The bytes are not a valid WebAssembly module.
        InvalidModule = "invalid_module",
        /// The module needs a proposal the policy does not allow (the message names it).
        FeatureDisabled = "feature_disabled",
        /// The module exceeds a static limit: size, memories, tables, initial sizes, compile-bomb
        /// guards, or the live-sandbox cap (the message names the limit).
        LimitExceeded = "limit_exceeded",
        /// An import that neither the host functions nor WASI provide, or one with another type.
        UnresolvedImport = "unresolved_import",
        /// The chosen runtime cannot run a proposal the policy allows (the message names it).
        Unsupported = "unsupported",
        /// The call itself is wrong: no such export, not a function, or arguments that do not
        /// match its signature.
        InvalidInvocation = "invalid_invocation",
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The export returned these values.
    Returned(Vec<Value>),
    /// A WASI command exited with this code (`_start` returning is exit 0).
    Exited(i32),
    /// The guest was stopped.
    Trapped(Trap),
    /// The module or the call was refused before the guest ran.
    Rejected(Rejection),
    /// The host failed (a thread, the filesystem, resources, the runtime itself): not the
    /// guest's doing, and not a verdict on the module.
    HostFailure(HostFailure),
}

impl Outcome {
    /// The class of outcome: `returned`, `exited`, `trapped`, `rejected` or `host_failure`.
    pub fn class(&self) -> OutcomeClass {
        match self {
            Outcome::Returned(_) => OutcomeClass::Returned,
            Outcome::Exited(_) => OutcomeClass::Exited,
            Outcome::Trapped(_) => OutcomeClass::Trapped,
            Outcome::Rejected(_) => OutcomeClass::Rejected,
            Outcome::HostFailure(_) => OutcomeClass::HostFailure,
        }
    }
}

names! {
    /// How a run ended, as the JSON report's `outcome` names it.
    pub enum OutcomeClass {
        /// The export returned (its values are in the report).
        Returned = "returned",
        /// A WASI command exited (its code is in the report).
        Exited = "exited",
        /// The guest was stopped (the trap is in the report).
        Trapped = "trapped",
        /// The module or the call was refused (the rejection is in the report).
        Rejected = "rejected",
        /// The host failed (the failure is in the report).
        HostFailure = "host_failure",
    }
}

names! {
    /// What part of the host failed. A host failure is never the guest's doing: the run can be
    /// retried, elsewhere or later.
    pub enum HostFailure {
        /// A thread could not be started (the deadline ticker or watchdog, a guest thread).
        Thread = "thread",
        /// A file or directory the policy names could not be opened or read.
        Filesystem = "filesystem",
        /// Memory, address space or mappings ran out outside any limit of the policy.
        Resources = "resources",
        /// The runtime itself failed or panicked: a bug to report; the sandbox is poisoned.
        Runtime = "runtime",
    }
}

impl fmt::Display for Outcome {
    /// The conformance-case spelling: `returned:i32:1,i64:2`, `exited:0`, `trapped:NAME`,
    /// `rejected:NAME`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Returned(v) if v.is_empty() => f.write_str("returned"),
            Outcome::Returned(v) => {
                let vals: Vec<String> = v.iter().map(Value::to_string).collect();
                write!(f, "returned:{}", vals.join(","))
            }
            Outcome::Exited(c) => write!(f, "exited:{c}"),
            Outcome::Trapped(t) => write!(f, "trapped:{t}"),
            Outcome::Rejected(r) => write!(f, "rejected:{r}"),
            Outcome::HostFailure(h) => write!(f, "host_failure:{h}"),
        }
    }
}
