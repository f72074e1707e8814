//! The crate-wide error: whose fault it is, and what exactly.

use std::fmt;
use std::sync::Arc;

use crate::outcome::{HostFailure, Outcome, Rejection, Trap};
use crate::policy::PolicyError;

/// The error a runtime reported, kept as the source of a Cage [`Error`].
#[derive(Clone)]
pub struct Source(Arc<dyn std::error::Error + Send + Sync>);

impl Source {
    /// Wraps a runtime's error.
    pub fn new(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Source(Arc::from(e.into()))
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for Source {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Everything that stops a guest short of returning, and everything that stops Cage from
/// running it: the crate-wide error. Its variants say whose fault it is:
///
/// - [`Error::Trapped`] and [`Error::Exited`]: the guest ran and stopped (which trap, which
///   code);
/// - [`Error::Rejected`]: the module or the call was refused before the guest ran (which
///   rejection);
/// - [`Error::Policy`]: the policy is invalid, or a runtime refuses it;
/// - [`Error::Host`]: the host failed (a thread, the filesystem, resources, the runtime).
///
/// Backends keep their own error types private and convert into this, keeping the runtime's
/// error as the [`source`](std::error::Error::source); `Trapped { trap: Other }` is the
/// `Generic` that must never be needed. Equality compares kinds and messages, not sources.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The guest trapped.
    #[error("trapped: {trap}: {message}")]
    Trapped {
        /// Which trap.
        trap: Trap,
        /// The runtime's or Cage's message.
        message: String,
        /// The runtime's own error, when there is one.
        #[source]
        source: Option<Source>,
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
    /// The policy is invalid, or a runtime refuses it.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The host failed: not the guest's doing and not a verdict on the module.
    #[error("host failure: {failure}: {message}")]
    Host {
        /// What failed.
        failure: HostFailure,
        /// What exactly.
        message: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Source>,
    },
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                Error::Trapped {
                    trap: a,
                    message: m,
                    ..
                },
                Error::Trapped {
                    trap: b,
                    message: n,
                    ..
                },
            ) => a == b && m == n,
            (Error::Exited { code: a }, Error::Exited { code: b }) => a == b,
            (
                Error::Rejected {
                    rejection: a,
                    message: m,
                },
                Error::Rejected {
                    rejection: b,
                    message: n,
                },
            ) => a == b && m == n,
            (Error::Policy(a), Error::Policy(b)) => a == b,
            (
                Error::Host {
                    failure: a,
                    message: m,
                    ..
                },
                Error::Host {
                    failure: b,
                    message: n,
                    ..
                },
            ) => a == b && m == n,
            _ => false,
        }
    }
}

impl Eq for Error {}

impl Error {
    /// A trap.
    pub fn trap(trap: Trap, message: impl Into<String>) -> Self {
        Error::Trapped {
            trap,
            message: message.into(),
            source: None,
        }
    }

    /// A trap with the runtime's error as its source.
    pub fn trap_from(
        trap: Trap,
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Trapped {
            trap,
            message: message.into(),
            source: Some(Source::new(source)),
        }
    }

    /// A rejection.
    pub fn reject(rejection: Rejection, message: impl Into<String>) -> Self {
        Error::Rejected {
            rejection,
            message: message.into(),
        }
    }

    /// A host failure.
    pub fn host(failure: HostFailure, message: impl Into<String>) -> Self {
        Error::Host {
            failure,
            message: message.into(),
            source: None,
        }
    }

    /// A host failure with the underlying error as its source.
    pub fn host_from(
        failure: HostFailure,
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Host {
            failure,
            message: message.into(),
            source: Some(Source::new(source)),
        }
    }

    /// The outcome this error stands for (an invalid policy is `rejected: invalid_invocation`:
    /// nothing ran).
    pub fn outcome(&self) -> Outcome {
        match self {
            Error::Trapped { trap, .. } => Outcome::Trapped(*trap),
            Error::Exited { code } => Outcome::Exited(*code),
            Error::Rejected { rejection, .. } => Outcome::Rejected(*rejection),
            Error::Policy(_) => Outcome::Rejected(Rejection::InvalidInvocation),
            Error::Host { failure, .. } => Outcome::HostFailure(*failure),
        }
    }

    /// The trap, if the guest trapped.
    pub fn as_trap(&self) -> Option<Trap> {
        match self {
            Error::Trapped { trap, .. } => Some(*trap),
            _ => None,
        }
    }

    /// The rejection, if the module or call was refused.
    pub fn as_rejection(&self) -> Option<Rejection> {
        match self {
            Error::Rejected { rejection, .. } => Some(*rejection),
            _ => None,
        }
    }

    /// The host failure, if the host failed.
    pub fn as_host_failure(&self) -> Option<HostFailure> {
        match self {
            Error::Host { failure, .. } => Some(*failure),
            _ => None,
        }
    }

    /// The message, if any.
    pub fn message(&self) -> Option<String> {
        match self {
            Error::Trapped { message, .. }
            | Error::Rejected { message, .. }
            | Error::Host { message, .. } => Some(message.clone()),
            Error::Policy(p) => Some(p.to_string()),
            Error::Exited { .. } => None,
        }
    }
}

/// Converts a call's result into its outcome.
pub fn outcome_of(result: &Result<Vec<crate::value::Value>, Error>) -> Outcome {
    match result {
        Ok(v) => Outcome::Returned(v.clone()),
        Err(e) => e.outcome(),
    }
}

/// Whether `err`, or an error in its chain of sources, says the host ran out of a resource
/// rather than that the module or the guest is at fault: memory or address space (`ENOMEM`,
/// also what `mmap` and `mprotect` answer past `vm.max_map_count`), descriptors (`EMFILE`,
/// `ENFILE`), threads (`EAGAIN` from `clone`). Returns which, for the message of a
/// `host_failure: resources`. Backends ask it of a runtime's error before they call a failure
/// `unsupported` or a trap `other`.
pub fn exhausted(err: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        let os = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            .or_else(|| {
                e.downcast_ref::<rustix::io::Errno>()
                    .map(|e| e.raw_os_error())
            });
        if let Some(raw) = os {
            use rustix::io::Errno as E;
            match E::from_raw_os_error(raw) {
                E::NOMEM => return Some("out of memory or memory mappings"),
                E::MFILE | E::NFILE => return Some("out of file descriptors"),
                E::AGAIN => return Some("out of threads or processes"),
                _ => {}
            }
        }
        if let Some(what) = exhausted_text(&e.to_string()) {
            return Some(what);
        }
        next = e.source();
    }
    None
}

/// [`exhausted`] for a message alone: a runtime's error text, or the message of a panic in a
/// runtime that failed to get a host resource (Wasmer's Cranelift builds a thread pool per
/// compile and unwraps the result; Wasmtime expects the `mmap` of a thread's signal stack to
/// succeed).
pub(crate) fn exhausted_text(text: &str) -> Option<&'static str> {
    const MEMORY: &str = "out of memory or memory mappings";
    const THREADS: &str = "out of threads or processes";
    [
        ("Cannot allocate memory", MEMORY),
        ("out of memory", MEMORY),
        ("ENOMEM", MEMORY),
        ("failed to allocate memory for sigaltstack", MEMORY),
        ("Too many open files", "out of file descriptors"),
        ("Resource temporarily unavailable", THREADS),
        ("failed to build rayon thread pool", THREADS),
        ("ThreadPoolBuildError", THREADS),
    ]
    .into_iter()
    .find_map(|(needle, what)| text.contains(needle).then_some(what))
}

#[cfg(test)]
mod exhausted_tests {
    use super::exhausted;

    /// `Error` stays small without boxing: a message (`String`) and a shared source (`Arc`),
    /// 48 bytes on 64-bit hosts, far below clippy's `result_large_err` threshold (128), so
    /// `Result<Value, Error>` stays cheap on the hot call path. A variant that would grow it
    /// boxes its payload instead.
    #[test]
    fn error_stays_small() {
        assert!(
            std::mem::size_of::<super::Error>() <= 48,
            "{}",
            std::mem::size_of::<super::Error>()
        );
    }

    #[test]
    fn host_exhaustion_is_recognised_through_sources() {
        #[derive(Debug, thiserror::Error)]
        #[error("unable to make memory executable")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::from_raw_os_error(
            rustix::io::Errno::NOMEM.raw_os_error(),
        ));
        assert!(exhausted(&e).unwrap().contains("memory"));
        let e = std::io::Error::from_raw_os_error(rustix::io::Errno::MFILE.raw_os_error());
        assert!(exhausted(&e).unwrap().contains("descriptors"));
        let e = std::io::Error::other("invalid opcode");
        assert_eq!(exhausted(&e), None);
    }
}
