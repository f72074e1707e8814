//! The ergonomic layer, written once for every runtime: bytes in, [`Report`] out.

use std::time::Instant;

use crate::backend::HOST_STACK_MARGIN;
use crate::error::Error;
use crate::host::HostFunctions;
use crate::module::{CheckedModule, ModuleInfo, check_args, module_hash, require_supported};
use crate::outcome::{HostFailure, Outcome, Rejection, Trap};
use crate::policy::Policy;
use crate::report::Report;
use crate::runtime::{DynRuntime, DynSandbox};
use crate::state::Extensions;
use crate::value::Value;

/// What to run in a module.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invocation {
    /// Call an exported function with these arguments.
    Call {
        /// Export name.
        export: String,
        /// Arguments, checked against the export's signature before the guest runs.
        args: Vec<Value>,
    },
    /// Run a WASI command: call `_start`; returning is `exited: 0`.
    Command,
    /// Instantiate only (runs the start function, if any); returning is `returned` with no
    /// values.
    Instantiate,
    /// Call `before` exports in order on the same instance (their outcomes, traps included,
    /// are ignored), then `then`: the outcome is the last call's. For state carried across
    /// calls, e.g. fuel left after a trap.
    Sequence {
        /// Calls made first: export and arguments.
        before: Vec<(String, Vec<Value>)>,
        /// The call whose outcome is reported.
        then: Box<Invocation>,
    },
}

impl Invocation {
    /// What to do with a module when no export is named: run it as a WASI command if it exports
    /// `_start`, otherwise just instantiate it (running its start function, if any).
    pub fn default_for(info: Option<&ModuleInfo>) -> Self {
        match info {
            Some(i) if i.export_func("_start").is_some() => Invocation::Command,
            Some(_) => Invocation::Instantiate,
            None => Invocation::Command,
        }
    }

    /// A call of `export` with `args`.
    pub fn call(export: impl Into<String>, args: impl Into<Vec<Value>>) -> Self {
        Invocation::Call {
            export: export.into(),
            args: args.into(),
        }
    }
}

/// Whether an outcome is a limit violation worth a log event.
fn is_violation(o: &Outcome) -> bool {
    matches!(
        o,
        Outcome::Trapped(
            Trap::OutOfFuel | Trap::Timeout | Trap::StackOverflow | Trap::ResourceLimit
        ) | Outcome::Rejected(Rejection::LimitExceeded)
    )
}

fn finish(mut report: Report, hash: Option<String>) -> Report {
    if is_violation(&report.outcome()) {
        tracing::warn!(
            module = hash.as_deref().unwrap_or("-"),
            runtime = %report.runtime,
            outcome = %report.outcome(),
            message = report.message.as_deref().unwrap_or(""),
            "limit violated"
        );
    }
    report.module_sha256 = hash;
    report
}

/// Checks, compiles and runs `bytes` on `runtime` with its policy, and reports what happened.
/// Never panics on hostile input: every failure is a rejection or a trap in the report.
pub fn run(
    runtime: &dyn DynRuntime,
    bytes: &[u8],
    host: &HostFunctions,
    invocation: &Invocation,
) -> Report {
    run_observed(runtime, bytes, host, invocation).report
}

/// A run's report and the sandbox's host state after the run.
#[derive(Debug)]
#[non_exhaustive]
pub struct Observed {
    /// The report, as [`run`] gives it.
    pub report: Report,
    /// The sandbox's typed host state after the run (empty when no sandbox was made): its
    /// import providers' state, such as the WASI context, which says what the guest used of
    /// what `[wasi]` grants (for `cage profile`).
    pub extensions: Extensions,
}

/// [`run`], also returning the sandbox's host state after the run (see [`Observed`]).
pub fn run_observed(
    runtime: &dyn DynRuntime,
    bytes: &[u8],
    host: &HostFunctions,
    invocation: &Invocation,
) -> Observed {
    let (compiled, hash, compile_ms) = match compile_for_run(runtime, bytes, host, invocation) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let started = Instant::now();
    let mut sandbox = match compiled.sandbox() {
        Ok(s) => s,
        Err(e) => return refused(runtime.name(), e, compile_ms, hash),
    };
    let result = execute(sandbox.as_mut(), invocation);
    let wall_ms = ms(started);
    observe_run(
        runtime.name(),
        hash,
        invocation,
        result,
        sandbox.as_mut(),
        wall_ms,
        compile_ms,
    )
}

/// [`run`]'s async twin on a runtime with native async ([`crate::run_async`]): the same
/// checks, compile and report, the guest's calls awaited on the executor. (The module is
/// compiled on the executor's thread: a module the runtime's cache holds is not compiled
/// again.)
#[cfg(feature = "async")]
pub(crate) async fn run_native_async(
    runtime: &dyn DynRuntime,
    bytes: &[u8],
    host: &HostFunctions,
    invocation: &Invocation,
) -> Report {
    let name = runtime.name();
    let (compiled, hash, compile_ms) = match compile_for_run(runtime, bytes, host, invocation) {
        Ok(c) => c,
        Err(o) => return o.report,
    };
    let started = Instant::now();
    let mut sandbox = match compiled.native_async_sandbox() {
        Some(Ok(s)) => s,
        Some(Err(e)) => return refused(name, e, compile_ms, hash).report,
        None => {
            let e = Error::host(
                HostFailure::Runtime,
                "the runtime declares native async but made no native async sandbox (a bug \
                 to report)",
            );
            return refused(name, e, compile_ms, hash).report;
        }
    };
    let result = execute_async(sandbox.as_mut(), invocation).await;
    let wall_ms = ms(started);
    observe_run(
        name,
        hash,
        invocation,
        result,
        sandbox.as_mut(),
        wall_ms,
        compile_ms,
    )
    .report
}

/// Checks and compiles `bytes` for a run: the module, its hash and the compile time, or the
/// report of a refusal (returned at once: not worth boxing).
#[allow(clippy::result_large_err)]
fn compile_for_run(
    runtime: &dyn DynRuntime,
    bytes: &[u8],
    host: &HostFunctions,
    invocation: &Invocation,
) -> Result<(Box<dyn crate::runtime::DynModule>, String, f64), Observed> {
    let name = runtime.name();
    let hash = module_hash(bytes);
    let start = Instant::now();
    let checked = match prepare(runtime, bytes, host, invocation) {
        Ok(c) => c,
        Err(e) => return Err(refused(name, e, ms(start), hash)),
    };
    match runtime.compile_dyn(&checked, host) {
        Ok(c) => Ok((c, hash, ms(start))),
        Err(e) => Err(refused(name, e, ms(start), hash)),
    }
}

/// The report of a run refused before the guest ran.
fn refused(name: crate::names::RuntimeName, e: Error, compile_ms: f64, hash: String) -> Observed {
    let mut r = Report::new(name, &e.outcome(), e.message());
    r.compile_ms = compile_ms;
    Observed {
        report: finish(r, Some(hash)),
        extensions: Extensions::new(),
    }
}

/// The report of a run that reached the guest: its outcome, the sandbox's counters and
/// output, and its host state.
fn observe_run(
    name: crate::names::RuntimeName,
    hash: String,
    invocation: &Invocation,
    result: Result<Vec<Value>, Error>,
    sandbox: &mut dyn DynSandbox,
    wall_ms: f64,
    compile_ms: f64,
) -> Observed {
    let outcome = match &result {
        Ok(v) => Outcome::Returned(v.clone()),
        Err(e) => e.outcome(),
    };
    let outcome = match (invocation, outcome) {
        (Invocation::Command, Outcome::Returned(_)) => Outcome::Exited(0),
        (_, o) => o,
    };
    let message = result.err().and_then(|e| e.message());
    let mut report = Report::new(name, &outcome, message);
    let stats = sandbox.stats();
    let output = sandbox.take_output();
    let extensions = std::mem::take(sandbox.extensions());
    report.fuel_consumed = stats.fuel_consumed;
    report.peak_memory_bytes = stats.peak_memory_bytes;
    report.peak_table_elements = stats.peak_table_elements;
    report.stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    report.stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    report.output_truncated = output.truncated;
    report.wall_ms = wall_ms;
    report.compile_ms = compile_ms;
    Observed {
        report: finish(report, Some(hash)),
        extensions,
    }
}

/// Everything decided before a runtime compiles: validation and static limits, runtime support
/// for the proposals used, import resolution, the invocation's arguments.
///
/// # Errors
/// The rejection.
pub fn prepare(
    runtime: &dyn DynRuntime,
    bytes: &[u8],
    host: &HostFunctions,
    invocation: &Invocation,
) -> Result<CheckedModule, Error> {
    let policy: &Policy = runtime.policy();
    let checked = runtime.check(bytes)?;
    // A module the runtime's cache had code for was supported when it was compiled.
    if !checked.proven() {
        require_supported(
            &checked,
            policy,
            runtime.capabilities(),
            runtime.name().as_str(),
        )?;
    }
    host.resolve(checked.info(), &runtime.providers())?;
    check_invocation(&checked, invocation)?;
    Ok(checked)
}

fn check_invocation(checked: &CheckedModule, invocation: &Invocation) -> Result<(), Error> {
    match invocation {
        Invocation::Call { export, args } => check_args(checked, export, args),
        Invocation::Command => check_args(checked, "_start", &[]),
        Invocation::Instantiate => Ok(()),
        Invocation::Sequence { before, then } => {
            for (export, args) in before {
                check_args(checked, export, args)?;
            }
            check_invocation(checked, then)
        }
    }
}

fn execute(sandbox: &mut dyn DynSandbox, invocation: &Invocation) -> Result<Vec<Value>, Error> {
    sandbox.instantiate()?;
    let mut invocation = invocation;
    loop {
        match invocation {
            Invocation::Call { export, args } => return sandbox.call(export, args),
            Invocation::Command => return sandbox.call("_start", &[]),
            Invocation::Instantiate => return Ok(Vec::new()),
            Invocation::Sequence { before, then } => {
                for (export, args) in before {
                    let _ = sandbox.call(export, args);
                }
                invocation = then;
            }
        }
    }
}

/// [`execute`], awaited: the same steps in the same order.
#[cfg(feature = "async")]
async fn execute_async(
    sandbox: &mut dyn crate::runtime::DynAsyncSandbox,
    invocation: &Invocation,
) -> Result<Vec<Value>, Error> {
    sandbox.instantiate_async().await?;
    let mut invocation = invocation;
    loop {
        match invocation {
            Invocation::Call { export, args } => return sandbox.call_async(export, args).await,
            Invocation::Command => return sandbox.call_async("_start", &[]).await,
            Invocation::Instantiate => return Ok(Vec::new()),
            Invocation::Sequence { before, then } => {
                for (export, args) in before {
                    let _ = sandbox.call_async(export, args).await;
                }
                invocation = then;
            }
        }
    }
}

/// Milliseconds since `since`, rounded to the microsecond.
fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

/// Runs `f` on a new thread whose stack fits the policy's `max_stack` plus
/// [`HOST_STACK_MARGIN`], and returns its result. Runtimes such as Wasmtime run guest code on the
/// calling thread's stack; this keeps a deep guest from reaching the end of a small host stack.
///
/// The thread is charged to the process budget's threads while it lives, as every thread Cage
/// starts for guests is.
///
/// # Errors
/// `rejected: limit_exceeded` when the process budget has no thread left;
/// `host_failure: thread` when the OS refuses to create the thread.
///
/// # Panics
/// Re-raises a panic of `f`.
pub fn on_guest_thread<T: Send>(policy: &Policy, f: impl FnOnce() -> T + Send) -> Result<T, Error> {
    let size = usize::try_from(policy.limits.max_stack.bytes()).unwrap_or(usize::MAX / 2);
    let _thread = crate::budget::reserve(crate::budget::Cost::threads(1))?;
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("cage-guest".into())
            .stack_size(size.saturating_add(HOST_STACK_MARGIN))
            .spawn_scoped(s, f)
            .map_err(|e| {
                Error::host_from(
                    HostFailure::Thread,
                    format!("cannot start a guest thread: {e}"),
                    e,
                )
            })?;
        match handle.join() {
            Ok(v) => Ok(v),
            Err(p) => std::panic::resume_unwind(p),
        }
    })
}
