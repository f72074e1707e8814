//! `cage run`.

use std::path::PathBuf;
use std::process::ExitCode;

use cage::{Error, HostFunctions, Invocation, Policy, Rejection, Report, RuntimeName, Value};
use clap::Args;

use crate::policy_args::{PolicyArgs, WasiArgs};
use crate::stubs::StubArgs;
use crate::{EXIT_CONFIG, ErrorKind};

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// Runtime: wasmtime, wasmer-cranelift, wasmer-singlepass, wasmer (= wasmer-cranelift), or
    /// `all`. Repeat it (or give `all`) to run on several runtimes and compare them: one row
    /// per runtime and a verdict, exit status 1 when they disagree.
    #[arg(long = "runtime", value_name = "NAME")]
    runtimes: Vec<String>,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    stubs: StubArgs,
    /// Call this export; ARGS are parsed by its signature.
    #[arg(long, value_name = "EXPORT")]
    invoke: Option<String>,
    #[command(flatten)]
    wasi: WasiArgs,
    /// Pass the host's stdio through to a WASI guest instead of capturing it.
    #[arg(long)]
    inherit_stdio: bool,
    /// Keep compiled modules in DIR instead of the user's cache directory
    /// ($XDG_CACHE_HOME/cage, else ~/.cache/cage, used by default). Later runs of the same
    /// module under the same runtime and code-shaping policy skip compilation. Entries are
    /// authenticated with a key kept outside DIR (see --cache-key).
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    cache: Option<PathBuf>,
    /// The cache's authentication key: a 32-byte file, created (mode 600) when missing. Default:
    /// $XDG_CONFIG_HOME/cage/cache.key, else ~/.config/cage/cache.key. Never inside the cache.
    #[arg(long, value_name = "FILE", conflicts_with = "no_cache")]
    cache_key: Option<PathBuf>,
    /// Bound the cache's entries to SIZE in total, least recently used out first
    /// (default 1 GiB).
    #[arg(long, value_name = "SIZE", value_parser = |s: &str| s.parse::<cage::Size>(), conflicts_with = "no_cache")]
    cache_max: Option<cage::Size>,
    /// Compile without the cache: nothing is read from it or written to it.
    #[arg(long)]
    no_cache: bool,
    /// Record the run's per-call metrics and print them, in Prometheus text format, on stderr
    /// after the run (names: see docs/many-tenants.md, "Metrics and spans").
    #[arg(long)]
    metrics: bool,
    /// Print exactly one JSON report on stdout (several runtimes: one object keyed by runtime).
    #[arg(long)]
    json: bool,
    /// The module: .wasm or .wat.
    module: PathBuf,
    /// Arguments of the export (with --invoke), or of the WASI command.
    #[arg(last = true)]
    args: Vec<String>,
}

/// Lays the WASI flags over the policy. ARGS after `--` are the WASI command's arguments (with
/// the module's file name as `argv[0]`) when there is no `--invoke`.
fn wasi_flags(a: &RunArgs, policy: &mut Policy) -> Result<(), (ErrorKind, String)> {
    a.wasi.apply_with_kind(policy)?;
    let w = &mut policy.wasi;
    if a.inherit_stdio {
        w.inherit_stdio = true;
    }
    if a.invoke.is_none() && (!a.args.is_empty() || w.args.is_empty()) {
        w.args = wasi_argv(&a.module, &a.args);
    }
    Ok(())
}

/// A WASI command's `argv`: the module's file name, then ARGS.
pub(crate) fn wasi_argv(module: &std::path::Path, args: &[String]) -> Vec<String> {
    let argv0 = module
        .file_name()
        .map_or_else(|| "module".into(), |n| n.to_string_lossy().into_owned());
    std::iter::once(argv0).chain(args.iter().cloned()).collect()
}

/// The runtimes `--runtime` names, canonical and without repeats: none given is the default
/// runtime, `all` every runtime compiled in.
///
/// # Errors
/// A name that is no runtime at all (one that is not compiled in is refused when it is made).
pub(crate) fn runtime_names(asked: &[String]) -> Result<Vec<RuntimeName>, String> {
    if asked.is_empty() {
        return Ok(vec![cage::default_runtime_name()]);
    }
    let mut out: Vec<RuntimeName> = Vec::new();
    for a in asked {
        let names = if a == "all" {
            cage::available_runtimes()
        } else {
            vec![a.parse::<RuntimeName>().map_err(|e| e.to_string())?]
        };
        for n in names {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    Ok(out)
}

/// A policy, WASI flags and module that passed the checks every run of `cage run` makes first.
pub(crate) struct Prepared {
    /// The policy, flags applied and validated.
    pub(crate) policy: Policy,
    /// The module binary.
    pub(crate) bytes: Vec<u8>,
    /// What to run.
    pub(crate) invocation: Invocation,
    /// The stubs for the module's imports.
    pub(crate) host: HostFunctions,
}

/// Why no run could start: exit status, kind and message.
pub(crate) type Failure = (u8, ErrorKind, String);

/// Lays flags over a policy (the WASI flags of a command); a failure is its kind and message.
pub(crate) type PolicyEdit<'a> = &'a dyn Fn(&mut Policy) -> Result<(), (ErrorKind, String)>;

/// Why [`prepare`] did not prepare a run.
pub(crate) enum NotPrepared {
    /// The module was refused before any runtime saw it (under this policy): the same verdict
    /// on every runtime, reported as such.
    Refused(Box<(Policy, Error)>),
    /// No run could start.
    Failed(Failure),
}

fn failure(kind: ErrorKind, msg: impl std::fmt::Display) -> Failure {
    (kind.status(), kind, msg.to_string())
}

/// Builds and validates the policy (`PolicyArgs`, then the WASI flags), checks that the
/// directories it grants exist, reads the module, plans the invocation and builds the stubs.
pub(crate) fn prepare(
    policy_args: &PolicyArgs,
    wasi: &WasiArgs,
    stubs: &StubArgs,
    module: &std::path::Path,
    export: Option<&str>,
    args: &[String],
    wasi_extra: PolicyEdit<'_>,
) -> Result<Prepared, NotPrepared> {
    use NotPrepared::{Failed, Refused};
    let mut policy = policy_args
        .policy()
        .map_err(|e| Failed(failure(crate::policy_error_kind(&e), e)))?;
    wasi_extra(&mut policy).map_err(|(k, m)| Failed(failure(k, m)))?;
    wasi.check_dirs(&policy, policy_args.policy.as_deref())
        .map_err(|m| Failed(failure(ErrorKind::Filesystem, m)))?;
    policy
        .validate()
        .map_err(|e| Failed(failure(ErrorKind::Config, e)))?;
    let bytes = match cage::module::load(module, policy.limits.max_module_size.bytes()) {
        Ok(b) => b,
        Err(Error::Host { message, .. }) => {
            return Err(Failed(failure(ErrorKind::Filesystem, message)));
        }
        Err(e) => return Err(Refused(Box::new((policy, e)))),
    };
    let info = cage::module::outline(&bytes).ok();
    let invocation = match invocation(info.as_ref(), export, args) {
        Ok(i) => i,
        Err(Plan::Usage(m)) => return Err(Failed(failure(ErrorKind::Usage, m))),
        Err(Plan::Failed(e)) => return Err(Refused(Box::new((policy, e)))),
    };
    let host = stubs.host_functions(info.as_ref(), &policy.costs);
    Ok(Prepared {
        policy,
        bytes,
        invocation,
        host,
    })
}

pub(crate) fn main(a: RunArgs) -> ExitCode {
    let names = match runtime_names(&a.runtimes) {
        Ok(n) => n,
        Err(e) => {
            let name = a.runtimes.first().map(String::as_str);
            return crate::fail_json(a.json, EXIT_CONFIG, ErrorKind::Config, name, &e);
        }
    };
    let first = names[0].to_string();
    let fail =
        |(code, kind, msg): Failure| crate::fail_json(a.json, code, kind, Some(&first), &msg);
    if names.len() > 1 && a.inherit_stdio {
        return fail(failure(
            ErrorKind::Usage,
            "--inherit-stdio runs on one runtime: output on several cannot be compared",
        ));
    }
    let wasi_extra = |p: &mut Policy| wasi_flags(&a, p);
    let prepared = prepare(
        &a.policy,
        &a.wasi,
        &a.stubs,
        &a.module,
        a.invoke.as_deref(),
        &a.args,
        &wasi_extra,
    );
    let prepared = match prepared {
        Ok(p) => p,
        Err(NotPrepared::Failed(f)) => return fail(f),
        // Refused before any runtime saw it: the same verdict on every runtime.
        Err(NotPrepared::Refused(r)) => {
            return refused(&names, &a.policy, &a.module, &r.0, &r.1, a.json);
        }
    };
    let cache = if a.no_cache {
        None
    } else {
        let max = a.cache_max.unwrap_or(crate::cache_cmd::DEFAULT_CACHE_MAX);
        match crate::cache_cmd::open(a.cache.as_deref(), a.cache_key.as_deref(), max) {
            Ok(c) => Some(c),
            // Asked for: a cache that cannot be set up is a configuration error.
            Err(e) if a.cache.is_some() || a.cache_key.is_some() => {
                return fail(failure(ErrorKind::Config, format!("--cache: {e}")));
            }
            // The default cache is speed, not a contract: without it the run goes on.
            Err(e) => {
                eprintln!("cage: running without the compile cache: {e}");
                None
            }
        }
    };
    let prometheus = if a.metrics {
        match metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder() {
            Ok(handle) => {
                cage::enable_metrics(true);
                Some(handle)
            }
            Err(e) => return fail(failure(ErrorKind::Config, format!("--metrics: {e}"))),
        }
    } else {
        None
    };
    let Prepared {
        policy,
        bytes,
        invocation,
        host,
    } = prepared;
    let status = if names.len() == 1 {
        let mut report = match crate::compare::run_on(
            names[0],
            &policy,
            &bytes,
            &host,
            &invocation,
            cache.as_ref(),
        ) {
            Ok(r) => r,
            Err(f) => return fail(f),
        };
        explain(&mut report, &a.policy, &a.module, &policy, &bytes, &host);
        emit(&report, a.json, &policy)
    } else {
        let mut comparison = match crate::compare::compare(
            &names,
            &policy,
            &bytes,
            &host,
            &invocation,
            cache.as_ref(),
        ) {
            Ok(c) => c,
            Err(f) => return fail(f),
        };
        for row in &mut comparison.rows {
            explain(
                &mut row.report,
                &a.policy,
                &a.module,
                &policy,
                &bytes,
                &host,
            );
        }
        if a.json {
            println!("{}", comparison.to_json());
        } else {
            comparison.print_table();
        }
        comparison.exit_code()
    };
    if let Some(handle) = prometheus {
        eprint!("{}", handle.render());
    }
    status
}

/// A module refused before any runtime saw it (unreadable as a module, too large, a missing
/// export): the same verdict on every runtime, printed as one report, or with several runtimes
/// in the comparison's shape.
pub(crate) fn refused(
    names: &[RuntimeName],
    args: &PolicyArgs,
    module: &std::path::Path,
    policy: &Policy,
    e: &Error,
    json: bool,
) -> ExitCode {
    let message = refusal_message(args, module, policy, e);
    let reports: Vec<Report> = names
        .iter()
        .map(|n| Report::new(*n, &e.outcome(), message.clone()))
        .collect();
    emit_all(reports, json, policy)
}

/// The message of a refusal before any runtime: for static limits, every limit the module
/// exceeds and how to raise each ([`PolicyArgs::limits_refusal`]); otherwise the error's own.
fn refusal_message(
    args: &PolicyArgs,
    module: &std::path::Path,
    policy: &Policy,
    e: &Error,
) -> Option<String> {
    if e.as_rejection() == Some(Rejection::LimitExceeded)
        && let Some(m) = static_limits_message(args, module, policy)
    {
        return Some(m);
    }
    e.message()
}

/// Says in a refusal's message how to get past it from the command line: every static limit
/// exceeded and how to raise each ([`explain_limits`]), or how to stub a missing import
/// ([`explain_imports`]).
pub(crate) fn explain(
    report: &mut Report,
    args: &PolicyArgs,
    module: &std::path::Path,
    policy: &Policy,
    bytes: &[u8],
    host: &HostFunctions,
) {
    explain_limits(report, args, module, policy);
    explain_imports(report, bytes, host, policy.costs.wasi.call);
}

/// Replaces the message of a static-limit refusal with every limit exceeded and how to raise
/// each.
fn explain_limits(
    report: &mut Report,
    args: &PolicyArgs,
    module: &std::path::Path,
    policy: &Policy,
) {
    if report.error == Some(Rejection::LimitExceeded)
        && let Some(m) = static_limits_message(args, module, policy)
    {
        report.message = Some(m);
    }
}

/// Adds to an `unresolved_import` refusal how to provide the import from the command line
/// ([`import_hint`]).
pub(crate) fn explain_imports(report: &mut Report, bytes: &[u8], host: &HostFunctions, cost: u64) {
    if report.error != Some(Rejection::UnresolvedImport) {
        return;
    }
    if let Some(hint) = cage::module::outline(bytes)
        .ok()
        .and_then(|info| import_hint(&info, host, cost))
    {
        report.message = Some(report.message.take().unwrap_or_default() + &hint);
    }
}

/// How to provide, from the command line, the first function import that is neither WASI nor
/// provided by `host`: the `--stub` flag for it and for its whole module; `cost` is what a
/// stub costs per call (a Sightglass marker: nothing).
pub(crate) fn import_hint(
    info: &cage::ModuleInfo,
    host: &HostFunctions,
    cost: u64,
) -> Option<String> {
    let (i, ty) = info.imports.iter().find_map(|i| match &i.ty {
        cage::module::ExternType::Func { ty }
            if i.module != cage::WASI_MODULE && host.get(&i.module, &i.name).is_none() =>
        {
            Some((i, ty))
        }
        _ => None,
    })?;
    let what = if crate::stubs::is_sightglass_marker(&i.module, &i.name, ty) {
        "a Sightglass benchmark marker: does nothing, costs no fuel".to_owned()
    } else {
        format!("returns zeros, {cost} fuel a call")
    };
    Some(format!(
        "; to run it anyway, stub it with --stub {}::{} ({what}) or every import of its module \
         with --stub '{}::*'",
        i.module, i.name, i.module
    ))
}

/// Every static limit of `policy` the module at `path` exceeds, told with
/// [`PolicyArgs::limits_refusal`]; `None` when it exceeds none (a refusal by the live-sandbox
/// cap or the process budget) or cannot be measured.
pub(crate) fn static_limits_message(
    args: &PolicyArgs,
    path: &std::path::Path,
    policy: &Policy,
) -> Option<String> {
    // Read it whatever its size: the point is to say how large it is.
    let len = std::fs::metadata(path).ok()?.len();
    let bytes = cage::module::load(path, len.max(policy.limits.max_module_size.bytes())).ok()?;
    let needs = cage::module::static_needs(&bytes).ok()?;
    let exceeded = needs.exceeded(&policy.limits);
    (!exceeded.is_empty()).then(|| args.limits_refusal(&exceeded))
}

/// Prints reports that all come from one verdict given before any runtime ran: one report, or
/// with several runtimes the comparison's shape.
fn emit_all(reports: Vec<Report>, json: bool, policy: &Policy) -> ExitCode {
    if reports.len() == 1 {
        return emit(&reports[0], json, policy);
    }
    let comparison = crate::compare::Comparison {
        rows: reports
            .into_iter()
            .map(|report| crate::compare::Row {
                runtime: report.runtime,
                stdout_sha256: crate::scratch::sha256_hex(b""),
                stderr_sha256: crate::scratch::sha256_hex(b""),
                files_sha256: None,
                report,
            })
            .collect(),
    };
    if json {
        println!("{}", comparison.to_json());
    } else {
        comparison.print_table();
    }
    comparison.exit_code()
}

/// Why a run could not be planned.
pub(crate) enum Plan {
    /// Arguments that do not fit the export or the module: a usage error.
    Usage(String),
    /// The module could not be read or was rejected.
    Failed(Error),
}

impl From<Error> for Plan {
    fn from(e: Error) -> Self {
        Plan::Failed(e)
    }
}

/// What to run: `export` with `args` parsed by its signature, or without an export the module's
/// default (a WASI command, whose `args` are its argv, or instantiation alone). A module too
/// broken to describe (`info` is `None`) is left for the run to reject with its real reason.
///
/// # Errors
/// A missing export is the module's verdict (`invalid_invocation`); arguments that do not fit
/// it, or arguments for a module that takes none, are the caller's mistake (usage).
pub(crate) fn invocation(
    info: Option<&cage::ModuleInfo>,
    export: Option<&str>,
    args: &[String],
) -> Result<Invocation, Plan> {
    match export {
        Some(export) => {
            let Some(info) = info else {
                return Ok(Invocation::call(export, Vec::new()));
            };
            let ty = info.export_func(export).ok_or_else(|| {
                Error::reject(
                    Rejection::InvalidInvocation,
                    format!("no exported function `{export}`"),
                )
            })?;
            if ty.params.len() != args.len() {
                return Err(Plan::Usage(format!(
                    "`{export}` takes {} arguments {ty}, got {}",
                    ty.params.len(),
                    args.len()
                )));
            }
            let values = ty
                .params
                .iter()
                .zip(args)
                .map(|(t, s)| Value::parse_as(*t, s))
                .collect::<Result<Vec<_>, _>>()
                .map_err(Plan::Usage)?;
            Ok(Invocation::call(export, values))
        }
        None => {
            let invocation = Invocation::default_for(info);
            if !args.is_empty() && matches!(invocation, Invocation::Instantiate) {
                return Err(Plan::Usage(
                    "ARGS were given, but the module is not a WASI command (no `_start`) and no \
                     --invoke names an export to pass them to"
                        .into(),
                ));
            }
            Ok(invocation)
        }
    }
}

fn emit(report: &Report, json: bool, policy: &Policy) -> ExitCode {
    if json {
        println!("{}", serde_json::to_string(report).unwrap_or_default());
        return crate::exit_code(report);
    }
    print!("{}", report.stdout);
    eprint!("{}", report.stderr);
    for v in &report.values {
        println!("{v}");
    }
    let mut line = format!("{}: {}", report.runtime, report.outcome());
    if let Some(m) = &report.message {
        line.push_str(&format!(" ({m})"));
    }
    if let Some(f) = report.fuel_consumed {
        line.push_str(&format!(", fuel {f}"));
    }
    line.push_str(&format!(
        ", {:.2} ms, peak memory {} bytes",
        report.wall_ms, report.peak_memory_bytes
    ));
    // Whether compilation was skipped: `cache: hit`, `miss` (compiled and stored) or
    // `rejected` (an entry failed its checks: compiled and stored again).
    if let Some(c) = report.cache {
        let word = serde_json::to_value(c).ok();
        line.push_str(&format!(
            ", cache: {}",
            word.as_ref().and_then(|w| w.as_str()).unwrap_or("?")
        ));
    }
    eprintln!("{line}");
    // Which limits were in force, so that an unbounded run is never a surprise.
    let l = &policy.limits;
    eprintln!(
        "limits: fuel {}, timeout {}, max memory {}, max stack {}",
        l.fuel.map_or_else(|| "none".to_owned(), |f| f.to_string()),
        l.timeout.map_or_else(
            || "none".to_owned(),
            |t| humantime::format_duration(t).to_string()
        ),
        l.max_memory,
        l.max_stack
    );
    crate::exit_code(report)
}
