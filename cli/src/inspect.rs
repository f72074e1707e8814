//! `cage inspect`.

use std::path::PathBuf;
use std::process::ExitCode;

use cage::{Error, ModuleInfo};
use clap::Args;
use serde_json::json;

use crate::policy_args::PolicyArgs;
use crate::{EXIT_CONFIG, EXIT_REJECTED, fail};

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
    let policy = match a.policy.policy() {
        Ok(p) => p,
        Err(e) => return fail(EXIT_CONFIG, e),
    };
    let loaded = cage::module::load(&a.module, policy.limits.max_module_size.bytes());
    let bytes = match loaded {
        Ok(b) => b,
        Err(e) => return fail(EXIT_REJECTED, e),
    };
    let info = cage::module::describe(&bytes);
    let checked = cage::check(&bytes, &policy);
    let used = cage::module::features_used(&bytes, &cage::Features::ALL);
    let mut runtimes = serde_json::Map::new();
    for name in cage::available_runtimes() {
        let v = match (&checked, cage::runtime_named(name, &policy)) {
            (Ok(m), Ok(rt)) => {
                cage::module::require_supported(m, &policy, rt.capabilities(), name.as_str())
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
