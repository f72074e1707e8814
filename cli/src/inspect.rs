//! `cage inspect`.

use std::path::PathBuf;
use std::process::ExitCode;

use cage::{Error, ModuleInfo};
use clap::Args;
use serde_json::json;

use crate::policy_args::PolicyArgs;
use crate::stubs::StubArgs;
use crate::{EXIT_REJECTED, ErrorKind};

#[derive(Args, Debug)]
pub(crate) struct InspectArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    stubs: StubArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// The module: .wasm or .wat.
    module: PathBuf,
}

fn verdict(result: &Result<(), Error>) -> serde_json::Value {
    match result {
        Ok(()) => json!({"accepted": true, "error": null, "message": null}),
        Err(e) => json!({
            "accepted": false,
            "error": e.outcome().to_string().trim_start_matches("rejected:"),
            "message": e.message(),
        }),
    }
}

pub(crate) fn main(a: InspectArgs) -> ExitCode {
    let fail = |kind: ErrorKind, msg: &dyn std::fmt::Display| {
        crate::fail_json(a.json, kind.status(), kind, None, msg)
    };
    let policy = match a.policy.policy() {
        Ok(p) => p,
        Err(e) => return fail(crate::policy_error_kind(&e), &e),
    };
    // Read it whatever its size: a module over `max_module_size` is measured and listed with
    // every other limit it exceeds, not refused unread.
    let size = std::fs::metadata(&a.module).map_or(0, |m| m.len());
    let loaded = cage::module::load(&a.module, size.max(policy.limits.max_module_size.bytes()));
    // A file that is not a module is a verdict like any other; one that cannot be read is not.
    let (bytes, unloadable) = match loaded {
        Ok(b) => (b, None),
        Err(Error::Host { message, .. }) => return fail(ErrorKind::Filesystem, &message),
        Err(e) => (Vec::new(), Some(e)),
    };
    let info = cage::module::describe(&bytes);
    let host = a.stubs.host_functions(info.as_ref().ok(), &policy.costs);
    // Every static limit the module exceeds, all at once (the check stops at the first).
    let exceeded = match (&unloadable, cage::module::static_needs(&bytes)) {
        (None, Ok(needs)) => needs.exceeded(&policy.limits),
        _ => Vec::new(),
    };
    // The verdict `cage run` would give: the static check, then imports (the --stub host
    // functions and WASI preview 1), then each runtime's own `prepare` (proposals it runs).
    // A static-limit refusal names every limit exceeded, as `cage run`'s does; any other
    // refusal the check meets first (a disabled feature, say) stays the verdict, as in `run`.
    let checked = match unloadable {
        Some(e) => Err(e),
        None => cage::check(&bytes, &policy)
            .map_err(|e| match e.outcome() {
                cage::Outcome::Rejected(cage::Rejection::LimitExceeded) if !exceeded.is_empty() => {
                    Error::reject(
                        cage::Rejection::LimitExceeded,
                        a.policy.limits_refusal(&exceeded),
                    )
                }
                _ => e,
            })
            .and_then(|m| {
                check_imports(&host, m.info()).map_err(|e| {
                    // Say how to provide the import from the command line, as `run` does.
                    match crate::run::import_hint(m.info(), &host, policy.costs.wasi.call) {
                        Some(hint) => Error::reject(
                            cage::Rejection::UnresolvedImport,
                            e.message().unwrap_or_default() + &hint,
                        ),
                        None => e,
                    }
                })?;
                Ok(m)
            }),
    };
    let used = cage::module::features_used(&bytes, &cage::Features::ALL);
    let invocation = cage::Invocation::default_for(info.as_ref().ok());
    let mut runtimes = serde_json::Map::new();
    for name in cage::available_runtimes() {
        let v = match (&checked, cage::runtime_named(name, &policy)) {
            (Ok(_), Ok(rt)) => {
                // Compiling and making a sandbox too: the live-sandbox cap, the runtime's own
                // refusals, as `run` meets them (no guest code runs).
                cage::prepare(rt.as_ref(), &bytes, &host, &invocation)
                    .and_then(|m| rt.compile_dyn(&m, &host))
                    .and_then(|m| m.sandbox())
                    .map(|_| ())
            }
            (Err(e), _) => Err(e.clone()),
            (_, Err(e)) => Err(Error::reject(cage::Rejection::Unsupported, e.to_string())),
        };
        runtimes.insert(name.to_string(), verdict(&v));
    }
    let overall = checked.as_ref().map(|_| ()).map_err(Clone::clone);
    let stubbed: Vec<String> = host
        .iter()
        .map(|f| format!("{}::{}", f.module, f.name))
        .collect();
    let limits: Vec<serde_json::Value> = exceeded
        .iter()
        .map(|e| {
            json!({
                "key": e.key,
                "module": e.needed,
                "limit": e.limit,
                "source": a.policy.source_of("limits", e.key).to_string(),
                "suggestion": e.suggestion(),
            })
        })
        .collect();
    let doc = json!({
        "module": a.module.display().to_string(),
        "info": info.as_ref().ok(),
        "features_used": used,
        "stubbed": stubbed,
        "limits_exceeded": limits,
        "verdict": verdict(&overall),
        "runtimes": runtimes,
    });
    if a.json {
        println!("{doc}");
    } else {
        print_human(
            info.as_ref().ok(),
            used.as_deref(),
            &stubbed,
            &overall,
            &runtimes,
        );
    }
    match overall {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(EXIT_REJECTED),
    }
}

/// Resolves the module's imports as `cage run` does: the stubs, and WASI preview 1, which
/// every runtime the CLI makes provides.
fn check_imports(host: &cage::HostFunctions, info: &ModuleInfo) -> Result<(), Error> {
    host.resolve(info, &[cage::wasi::provider()])
}

fn print_human(
    info: Option<&ModuleInfo>,
    used: Option<&[cage::Proposal]>,
    stubbed: &[String],
    verdict: &Result<(), Error>,
    runtimes: &serde_json::Map<String, serde_json::Value>,
) {
    if let Some(i) = info {
        println!(
            "module    sha256 {} ({} bytes, {} functions{})",
            i.sha256,
            i.size,
            i.functions,
            if i.has_start { ", start function" } else { "" }
        );
        for imp in &i.imports {
            let key = format!("{}::{}", imp.module, imp.name);
            println!(
                "import    {}.{}: {}{}",
                imp.module,
                imp.name,
                serde_json::to_string(&imp.ty).unwrap_or_default(),
                if stubbed.contains(&key) {
                    " (stub)"
                } else {
                    ""
                }
            );
        }
        for e in &i.exports {
            println!(
                "export    {}: {}",
                e.name,
                serde_json::to_string(&e.ty).unwrap_or_default()
            );
        }
        for (n, m) in i.memories.iter().enumerate() {
            println!(
                "memory    {n}: initial {} bytes, maximum {}, page {}{}{}",
                m.initial_bytes,
                m.maximum_bytes
                    .map_or("none".into(), |x| format!("{x} bytes")),
                m.page_size,
                if m.memory64 { ", 64-bit" } else { "" },
                if m.shared { ", shared" } else { "" }
            );
        }
        for (n, t) in i.tables.iter().enumerate() {
            println!(
                "table     {n}: {} initial {}, maximum {}",
                t.element,
                t.initial,
                t.maximum.map_or("none".into(), |x| x.to_string())
            );
        }
    }
    match used {
        Some([]) => println!("proposals (MVP only)"),
        Some(u) => println!(
            "proposals {}",
            u.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
        ),
        None => println!("proposals (not computed)"),
    }
    match verdict {
        Ok(()) => println!("verdict   accepted"),
        Err(e) => println!("verdict   {e}"),
    }
    let overall = verdict.as_ref().err().and_then(Error::message);
    for (name, v) in runtimes {
        let ok = v["accepted"].as_bool().unwrap_or(false);
        let message = v["message"].as_str();
        let text = if ok {
            "accepted".to_owned()
        } else if message.is_some() && message == overall.as_deref() {
            // The verdict above, not repeated: one line per runtime stays one line.
            format!(
                "rejected: {} (the verdict above)",
                v["error"].as_str().unwrap_or("")
            )
        } else {
            message.unwrap_or("").to_owned()
        };
        println!("runtime   {name}: {text}");
    }
}
