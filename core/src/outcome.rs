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
        /// A misaligned atomic access.
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
pub enum Outcome {
    /// The export returned these values.
    Returned(Vec<Value>),
    /// A WASI command exited with this code (`_start` returning is exit 0).
    Exited(i32),
    /// The guest was stopped.
    Trapped(Trap),
    /// The module or the call was refused before the guest ran.
    Rejected(Rejection),
}

impl Outcome {
    /// `returned`, `exited`, `trapped` or `rejected`.
    pub fn class(&self) -> &'static str {
        match self {
            Outcome::Returned(_) => "returned",
            Outcome::Exited(_) => "exited",
            Outcome::Trapped(_) => "trapped",
            Outcome::Rejected(_) => "rejected",
        }
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
        }
    }
}

/// Everything that stops a guest short of returning: the crate-wide error.
///
/// Backends keep their own error types private and convert into this; `Trapped { trap: Other }`
/// is the `Generic` that must never be needed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The guest trapped.
    #[error("trapped: {trap}: {message}")]
    Trapped {
        /// Which trap.
        trap: Trap,
        /// The runtime's message.
        message: String,
    },
    /// A WASI guest exited.
    #[error("exited with code {code}")]
    Exited {
        /// The exit code.
        code: i32,
    },
    /// The module or call was refused.
    #[error("rejected: {rejection}: {message}")]
    Rejected {
        /// Which rejection.
        rejection: Rejection,
        /// What exactly, naming the limit, proposal or import.
        message: String,
    },
}

impl Error {
    /// A trap.
    pub fn trap(trap: Trap, message: impl Into<String>) -> Self {
        Error::Trapped {
            trap,
            message: message.into(),
        }
    }

    /// A rejection.
    pub fn reject(rejection: Rejection, message: impl Into<String>) -> Self {
        Error::Rejected {
            rejection,
            message: message.into(),
        }
    }

    /// The outcome this error stands for.
    pub fn outcome(&self) -> Outcome {
        match self {
            Error::Trapped { trap, .. } => Outcome::Trapped(*trap),
            Error::Exited { code } => Outcome::Exited(*code),
            Error::Rejected { rejection, .. } => Outcome::Rejected(*rejection),
        }
    }

    /// The message, if any.
    pub fn message(&self) -> Option<&str> {
        match self {
            Error::Trapped { message, .. } | Error::Rejected { message, .. } => Some(message),
            Error::Exited { .. } => None,
        }
    }
}

/// Converts a call's result into its outcome.
pub fn outcome_of(result: &Result<Vec<Value>, Error>) -> Outcome {
    match result {
        Ok(v) => Outcome::Returned(v.clone()),
        Err(e) => e.outcome(),
    }
}
