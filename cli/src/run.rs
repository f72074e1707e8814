//! `cage run`.

use std::path::PathBuf;
use std::process::ExitCode;

use cage::{
    CacheResult, Error, HostFunctions, Invocation, Outcome, Policy, Rejection, Report, Value,
    on_guest_thread,
};
use clap::Args;

use crate::policy_args::{PolicyArgs, WasiArgs};
use crate::{EXIT_CONFIG, EXIT_REJECTED, EXIT_TRAPPED, EXIT_USAGE, ErrorKind};

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// Runtime: wasmtime, wasmer-cranelift, wasmer-singlepass, wasmer (= wasmer-cranelift).
    #[arg(long, value_name = "NAME")]
    runtime: Option<String>,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Call this export; ARGS are parsed by its signature.
    #[arg(long, value_name = "EXPORT")]
    invoke: Option<String>,
    #[command(flatten)]
    wasi: WasiArgs,
    /// Pass the host's stdio through to a WASI guest instead of capturing it.
    #[arg(long)]
    inherit_stdio: bool,
    /// Keep compiled modules in DIR (created owner-only) and load them from there: later runs
    /// of the same module under the same runtime and code-shaping policy skip compilation.
    /// Entries are authenticated with a key kept outside DIR (see --cache-key).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// The cache's authentication key: a 32-byte file, created (mode 600) when missing. Default:
    /// $XDG_CONFIG_HOME/cage/cache.key, else ~/.config/cage/cache.key. Never inside DIR.
    #[arg(long, value_name = "FILE", requires = "cache")]
    cache_key: Option<PathBuf>,
    /// Record the run's per-call metrics and print them, in Prometheus text format, on stderr
    /// after the run (names: see docs/many-tenants.md, "Metrics and spans").
    #[arg(long)]
    metrics: bool,
    /// Print exactly one JSON report on stdout.
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
fn wasi_flags(a: &RunArgs, policy: &mut Policy) -> Result<(), String> {
    a.wasi.apply(policy)?;
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

pub(crate) fn main(a: RunArgs) -> ExitCode {
    let name = a
        .runtime
        .clone()
        .unwrap_or_else(|| cage::default_runtime_name().to_string());
    let fail = |code: u8, kind: ErrorKind, msg: &dyn std::fmt::Display| {
        crate::fail_json(a.json, code, kind, Some(&name), msg)
    };
    let mut policy = match a.policy.policy() {
        Ok(p) => p,
        Err(e) => return fail(EXIT_CONFIG, ErrorKind::Config, &e),
    };
    if let Err(e) = wasi_flags(&a, &mut policy) {
        return fail(EXIT_USAGE, ErrorKind::Usage, &e);
    }
    if let Err(e) = policy.validate() {
        return fail(EXIT_CONFIG, ErrorKind::Config, &e);
    }
    let runtime = match cage::runtime(&name, &policy) {
        Ok(r) => r,
        Err(e) => {
            let code = crate::runtime_error_status(&e);
            let kind = if code == crate::EXIT_HOST {
                ErrorKind::Host
            } else {
                ErrorKind::Config
            };
            return fail(code, kind, &e);
        }
    };
    if let Some(dir) = &a.cache {
        let Some(key) = a.cache_key.clone().or_else(default_cache_key) else {
            return fail(
                EXIT_CONFIG,
                ErrorKind::Config,
                &"--cache: no --cache-key and no $XDG_CONFIG_HOME or $HOME for the default",
            );
        };
        match cage::DiskCache::open_with_key_file(dir, &key) {
            Ok(c) => runtime.set_disk_cache(Some(c)),
            Err(e) => {
                return fail(
                    EXIT_CONFIG,
                    ErrorKind::Config,
                    &format!("--cache {}: {e}", dir.display()),
                );
            }
        }
    }
    let prometheus = if a.metrics {
        match metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder() {
            Ok(handle) => {
                cage::enable_metrics(true);
                Some(handle)
            }
            Err(e) => return fail(EXIT_CONFIG, ErrorKind::Config, &format!("--metrics: {e}")),
        }
    } else {
        None
    };
    let before = runtime.cache_stats();
    let (bytes, invocation) = match load_and_plan(&a, &policy) {
        Ok(p) => p,
        // The module file cannot be read: docs/cli.md's 65, as an error, not a verdict.
        Err(Plan::Failed(e @ Error::Host { .. })) => {
            return fail(EXIT_REJECTED, ErrorKind::Io, &e);
        }
        Err(Plan::Usage(message)) => return fail(EXIT_USAGE, ErrorKind::Usage, &message),
        Err(Plan::Failed(e)) => {
            let report = Report::new(runtime.name(), &e.outcome(), e.message());
            return emit(&report, a.json, &policy);
        }
    };
    let mut report = on_guest_thread(&policy, || {
        cage::run(runtime.as_ref(), &bytes, &HostFunctions::new(), &invocation)
    })
    .unwrap_or_else(|e| Report::new(runtime.name(), &e.outcome(), e.message()));
    if a.cache.is_some() {
        let after = runtime.cache_stats();
        report.cache = if after.rejected > before.rejected {
            Some(CacheResult::Rejected)
        } else if after.disk_hits + after.memory_hits > before.disk_hits + before.memory_hits {
            Some(CacheResult::Hit)
        } else if after.misses > before.misses {
            Some(CacheResult::Miss)
        } else {
            None
        };
    }
    let status = emit(&report, a.json, &policy);
    if let Some(handle) = prometheus {
        eprint!("{}", handle.render());
    }
    status
}

/// `$XDG_CONFIG_HOME/cage/cache.key`, else `~/.config/cage/cache.key`.
fn default_cache_key() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("cage").join("cache.key"))
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

/// Reads the module and turns `--invoke` and ARGS into an invocation.
fn load_and_plan(a: &RunArgs, policy: &Policy) -> Result<(Vec<u8>, Invocation), Plan> {
    let bytes = cage::module::load(&a.module, policy.limits.max_module_size.bytes())?;
    let info = cage::module::outline(&bytes).ok();
    let invocation = invocation(info.as_ref(), a.invoke.as_deref(), &a.args)?;
    Ok((bytes, invocation))
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

fn exit_code(report: &Report) -> ExitCode {
    match report.outcome() {
        Outcome::Returned(_) => ExitCode::SUCCESS,
        Outcome::Exited(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        Outcome::Trapped(_) => ExitCode::from(EXIT_TRAPPED),
        Outcome::Rejected(_) => ExitCode::from(EXIT_REJECTED),
        Outcome::HostFailure(_) => ExitCode::from(crate::EXIT_HOST),
        _ => ExitCode::from(crate::EXIT_HOST),
    }
}

fn emit(report: &Report, json: bool, policy: &Policy) -> ExitCode {
    if json {
        println!("{}", serde_json::to_string(report).unwrap_or_default());
        return exit_code(report);
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
    exit_code(report)
}
