//! Runs a case on every runtime and judges it: the expected outcome everywhere, and the same
//! outcome, values, exit code, stdout and (on completion) fuel on every runtime.

use cage_core::module::{describe, to_binary};
use cage_core::{
    DynRuntime, HostFunctions, Invocation, Outcome, Rejection, Report, RuntimeName,
    on_guest_thread, run,
};

use crate::case::Case;
use crate::host::host_functions;

/// Makes a runtime by name for a policy (the facade's `cage::runtime`, or a test's own).
pub type Factory<'a> =
    dyn Fn(RuntimeName, &cage_core::Policy) -> Result<Box<dyn DynRuntime>, String> + Sync + 'a;

/// How one runtime did on one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The expected outcome.
    Pass,
    /// Another outcome (the string says which and why).
    Fail(String),
    /// The runtime cannot run a proposal the case uses: reported, neither pass nor failure.
    Unsupported(String),
}

/// A case's results on every runtime.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// Case name.
    pub case: String,
    /// Its `expect`.
    pub expect: String,
    /// Report per runtime, in runtime order.
    pub results: Vec<(RuntimeName, Report)>,
    /// Verdict per runtime, in runtime order.
    pub verdicts: Vec<(RuntimeName, Verdict)>,
    /// Whether every runtime that could run the case agreed (`None` if fewer than two could).
    pub identical: Option<bool>,
    /// How they differed.
    pub divergence: Option<String>,
}

impl CaseResult {
    /// The case passes: no runtime failed, and the runtimes agreed (or the case allows a
    /// documented divergence).
    pub fn pass(&self, allow_divergence: bool) -> bool {
        self.verdicts
            .iter()
            .all(|(_, v)| !matches!(v, Verdict::Fail(_)))
            && (allow_divergence || self.identical != Some(false))
    }
}

/// Why `runtime` cannot run `bytes` by its declared capabilities, or `None` when it can.
pub fn uses_unsupported(
    bytes: &[u8],
    policy: &cage_core::Policy,
    runtime: &dyn DynRuntime,
) -> Option<String> {
    let checked = cage_core::check(bytes, policy).ok()?;
    cage_core::module::require_supported(
        &checked,
        policy,
        runtime.capabilities(),
        runtime.name().as_str(),
    )
    .err()
    .map(|e| e.message().unwrap_or_else(|| "unsupported".to_owned()))
}

/// What is compared across runtimes.
fn signature(r: &Report) -> (Outcome, String, Option<u64>) {
    let o = r.outcome();
    let fuel = match o {
        Outcome::Returned(_) | Outcome::Exited(_) => r.fuel_consumed,
        _ => None,
    };
    (o, r.stdout.clone(), fuel)
}

/// Runs `case` on each of `runtimes`.
pub fn run_case(case: &Case, runtimes: &[RuntimeName], factory: &Factory<'_>) -> CaseResult {
    run_case_with(
        case,
        runtimes,
        factory,
        &|runtime, bytes, host, invocation, policy| {
            on_guest_thread(policy, || run(runtime.as_ref(), bytes, host, invocation))
                .unwrap_or_else(|e| Report::new(runtime.name(), &e.outcome(), e.message()))
        },
    )
}

/// How a case's module is run on one runtime: the sync path ([`run_case`]: `cage_core::run`
/// on a guest thread) or another one held to the same verdicts (the async API's `run_async`).
pub type Exec<'a> = dyn Fn(
        std::sync::Arc<dyn DynRuntime>,
        &[u8],
        &HostFunctions,
        &Invocation,
        &cage_core::Policy,
    ) -> Report
    + Sync
    + 'a;

/// [`run_case`], running each runtime's module with `exec`.
pub fn run_case_with(
    case: &Case,
    runtimes: &[RuntimeName],
    factory: &Factory<'_>,
    exec: &Exec<'_>,
) -> CaseResult {
    let host: HostFunctions = host_functions();
    let bytes = to_binary(&case.source);
    let info = bytes.as_ref().ok().and_then(|b| describe(b).ok());
    let mut invocation = match &case.spec.invoke {
        Some(e) => Invocation::call(e.clone(), case.args.clone()),
        None => Invocation::default_for(info.as_ref()),
    };
    if !case.spec.before.is_empty() {
        let zeros = |e: &str| -> Vec<cage_core::Value> {
            info.as_ref()
                .and_then(|i| i.export_func(e))
                .map(|t| {
                    t.params
                        .iter()
                        .map(|p| cage_core::Value::default_for(*p))
                        .collect()
                })
                .unwrap_or_default()
        };
        invocation = Invocation::Sequence {
            before: case
                .spec
                .before
                .iter()
                .map(|e| (e.clone(), zeros(e)))
                .collect(),
            then: Box::new(invocation),
        };
    }
    let mut results = Vec::new();
    let mut verdicts = Vec::new();
    for &name in runtimes {
        // Every runtime starts from its own fresh copy of the case's directories.
        let scratch = match Scratch::new(&case.policy, &case.spec.make) {
            Ok(s) => s,
            Err(e) => {
                let msg = format!("cannot copy the case's directories: {e}");
                let outcome = Outcome::Rejected(Rejection::InvalidInvocation);
                results.push((name, Report::new(name, &outcome, Some(msg.clone()))));
                verdicts.push((name, Verdict::Fail(msg)));
                continue;
            }
        };
        let policy = &scratch.policy;
        let runtime: std::sync::Arc<dyn DynRuntime> = match factory(name, policy) {
            Ok(rt) => rt.into(),
            Err(e) => {
                // A runtime that cannot be built is a failure of that runtime, never "unsupported".
                let msg = format!("the runtime cannot be built for this case's policy: {e}");
                let outcome = Outcome::Rejected(Rejection::InvalidInvocation);
                results.push((name, Report::new(name, &outcome, Some(msg.clone()))));
                verdicts.push((name, Verdict::Fail(msg)));
                continue;
            }
        };
        let report = match &bytes {
            Err(e) => Report::new(name, &e.outcome(), e.message()),
            Ok(b) => exec(runtime.clone(), b, &host, &invocation, policy),
        };
        let outcome = report.outcome();
        let verdict = if case.expect.matches(&outcome) {
            match (&case.spec.expect_stdout, &case.spec.expect_stderr) {
                (Some(s), _) if *s != report.stdout => {
                    Verdict::Fail(format!("stdout {:?}, expected {s:?}", report.stdout))
                }
                (_, Some(s)) if *s != report.stderr => {
                    Verdict::Fail(format!("stderr {:?}, expected {s:?}", report.stderr))
                }
                _ => Verdict::Pass,
            }
        } else if outcome == Outcome::Rejected(Rejection::Unsupported) {
            // Legitimate only when core's proposal detection says the module uses a proposal
            // this runtime's declared capabilities lack.
            match bytes
                .as_ref()
                .map(|b| uses_unsupported(b, policy, runtime.as_ref()))
            {
                Ok(Some(why)) => Verdict::Unsupported(why),
                _ => Verdict::Fail(format!(
                    "rejected:unsupported although its capabilities cover every proposal the \
                     module uses ({})",
                    report.message.as_deref().unwrap_or("")
                )),
            }
        } else {
            Verdict::Fail(format!(
                "{outcome}{}, expected {}",
                report
                    .message
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default(),
                case.spec.expect
            ))
        };
        drop(scratch);
        verdicts.push((name, verdict));
        results.push((name, report));
    }
    let comparable: Vec<&(RuntimeName, Report)> = results
        .iter()
        .zip(&verdicts)
        .filter(|(_, (_, v))| !matches!(v, Verdict::Unsupported(_)))
        .map(|(r, _)| r)
        .collect();
    let (identical, divergence) = match comparable.split_first() {
        Some((first, rest)) if !rest.is_empty() => {
            let base = signature(&first.1);
            let diff: Vec<String> = rest
                .iter()
                .filter(|(_, r)| signature(r) != base)
                .map(|(n, r)| {
                    let (o, out, fuel) = signature(r);
                    let fuel_text =
                        |f: Option<u64>| f.map_or_else(|| "-".to_owned(), |f| f.to_string());
                    format!(
                        "{n}: {o} stdout {out:?} fuel {} vs {}: {} stdout {:?} fuel {}",
                        fuel_text(fuel),
                        first.0,
                        base.0,
                        base.1,
                        fuel_text(base.2)
                    )
                })
                .collect();
            (
                Some(diff.is_empty()),
                (!diff.is_empty()).then(|| diff.join("; ")),
            )
        }
        _ => (None, None),
    };
    CaseResult {
        case: case.name.clone(),
        expect: case.spec.expect.clone(),
        results,
        verdicts,
        identical,
        divergence,
    }
}

/// A private copy of a case's `[[wasi.dirs]]` in a temporary directory, removed on drop, so that
/// a case never changes the source tree and every runtime sees the same starting files.
struct Scratch {
    policy: cage_core::Policy,
    root: Option<std::path::PathBuf>,
}

impl Scratch {
    fn new(policy: &cage_core::Policy, make: &[crate::case::Make]) -> std::io::Result<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mut policy = policy.clone();
        if policy.wasi.dirs.is_empty() {
            return Ok(Scratch { policy, root: None });
        }
        let root = std::env::temp_dir().join(format!(
            "cage-case-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&root)?;
        for (i, d) in policy.wasi.dirs.iter_mut().enumerate() {
            let copy = root.join(i.to_string());
            copy_dir(&d.host, &copy)?;
            d.host = copy;
        }
        for m in make {
            m.make(&policy.wasi.dirs[m.dir].host)?;
        }
        Ok(Scratch {
            policy,
            root: Some(root),
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(r) = &self.root {
            let _ = std::fs::remove_dir_all(r);
        }
    }
}

/// Copies a directory tree. Symbolic links are copied as links, with the same target (a case's
/// links are its own: one pointing inside the directory keeps working in the copy, one pointing
/// out keeps pointing out).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let ty = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if ty.is_symlink() {
            copy_link(&entry.path(), &dest)?;
        } else if ty.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else if ty.is_file() {
            std::fs::copy(entry.path(), dest)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn copy_link(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(std::fs::read_link(from)?, to)
}

#[cfg(not(unix))]
fn copy_link(from: &std::path::Path, _: &std::path::Path) -> std::io::Result<()> {
    Err(std::io::Error::other(format!(
        "cannot copy the symbolic link {} on this platform",
        from.display()
    )))
}
