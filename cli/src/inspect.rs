//! `cage inspect`.

use std::path::PathBuf;
use std::process::ExitCode;

use cage::{Error, ModuleInfo};
use clap::Args;
use serde_json::json;

use crate::policy_args::PolicyArgs;
use crate::{EXIT_CONFIG, EXIT_REJECTED, ErrorKind};

#[derive(Args, Debug)]
pub(crate) struct InspectArgs {
    #[command(flatten)]
    policy: PolicyArgs,
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
    let fail = |code: u8, kind: ErrorKind, msg: &dyn std::fmt::Display| {
        crate::fail_json(a.json, code, kind, None, msg)
    };
    let policy = match a.policy.policy() {
        Ok(p) => p,
        Err(e) => return fail(EXIT_CONFIG, ErrorKind::Config, &e),
    };
    let loaded = cage::module::load(&a.module, policy.limits.max_module_size.bytes());
    // A file that is not a module is a verdict like any other; one that cannot be read is not.
    let (bytes, unloadable) = match loaded {
        Ok(b) => (b, None),
        Err(e @ Error::Host { .. }) => return fail(EXIT_REJECTED, ErrorKind::Io, &e),
        Err(e) => (Vec::new(), Some(e)),
    };
    let info = cage::module::describe(&bytes);
    // The verdict `cage run` would give: the static check, then imports (no host functions on
    // the command line; WASI preview 1), then each runtime's own `prepare` (proposals it runs).
    let checked = match unloadable {
        Some(e) => Err(e),
        None => cage::check(&bytes, &policy).and_then(|m| {
            cage::HostFunctions::new().resolve(m.info(), true)?;
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
                let host = cage::HostFunctions::new();
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
    let doc = json!({
        "module": a.module.display().to_string(),
        "info": info.as_ref().ok(),
        "features_used": used,
        "verdict": verdict(&overall),
        "runtimes": runtimes,
    });
    if a.json {
        println!("{doc}");
    } else {
        print_human(info.as_ref().ok(), used.as_deref(), &overall, &runtimes);
    }
    match overall {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(EXIT_REJECTED),
    }
}

fn print_human(
    info: Option<&ModuleInfo>,
    used: Option<&[cage::Proposal]>,
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
            println!(
                "import    {}.{}: {}",
                imp.module,
                imp.name,
                serde_json::to_string(&imp.ty).unwrap_or_default()
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
    for (name, v) in runtimes {
        let ok = v["accepted"].as_bool().unwrap_or(false);
        println!(
            "runtime   {name}: {}",
            if ok {
                "accepted".to_owned()
            } else {
                v["message"].as_str().unwrap_or("").to_owned()
            }
        );
    }
}
