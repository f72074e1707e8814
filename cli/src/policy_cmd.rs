//! `cage policy init | explain | audit`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use cage::policy::audit::{Observations, Severity, audit, audit_against};
use cage::policy::docs::{FEATURES, key_doc, proposal_doc};
use cage::{Policy, Preset};
use clap::{Args, Subcommand};
use serde_json::{Value as Json, json};

use crate::policy_args::PolicyArgs;
use crate::{EXIT_CONFIG, EXIT_USAGE, ErrorKind};

#[derive(Args, Debug)]
pub(crate) struct PolicyCmd {
    #[command(subcommand)]
    command: PolicySub,
}

#[derive(Subcommand, Debug)]
enum PolicySub {
    /// Print (or write) a complete policy file: every key with its value and a comment saying
    /// what it limits and what it protects against.
    Init {
        /// Preset to start from: strict, default, permissive.
        #[arg(long, default_value = "default")]
        preset: String,
        /// Write to FILE instead of stdout (refused if it exists).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// The effective policy: each value, where it came from (preset, file, flag) and what it
    /// protects against.
    Explain {
        /// Policy file (same as --policy).
        file: Option<PathBuf>,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Risky settings, each with a severity and a fix; exit status 1 when one is at or above
    /// --deny.
    Audit {
        /// Policy file (same as --policy).
        file: Option<PathBuf>,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// The severity that fails: info, low, medium, high.
        #[arg(long, value_name = "LEVEL", default_value = "high")]
        deny: String,
        /// Also compare the limits with what `cage profile --json` observed (its output file):
        /// limits far above the observations, or below them, are findings.
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,
    },
}

pub(crate) fn main(cmd: PolicyCmd) -> ExitCode {
    match cmd.command {
        PolicySub::Init { preset, out } => init(&preset, out),
        PolicySub::Explain { file, policy, json } => explain(file, policy, json),
        PolicySub::Audit {
            file,
            policy,
            json,
            deny,
            profile,
        } => audit_cmd(file, policy, json, &deny, profile),
    }
}

/// The policy file `init` writes: [`Policy::to_toml`] with a comment before every key.
pub(crate) fn commented_toml(preset: Preset) -> String {
    let header = format!(
        "# Cage policy: the `{}` preset, every key with its value. Keys override the preset;\n\
         # flags override keys. Check it with `cage policy audit FILE`, see where each value \n\
         # comes from with `cage policy explain FILE`.\npreset = \"{}\"\n",
        preset.name(),
        preset.name()
    );
    annotated_toml(&preset.policy(), &header, &|_, _| None)
}

/// `policy` as TOML after `header`, every key preceded by what it limits and protects against,
/// and by `note(section, key)` when it has one (e.g. what `cage profile` observed).
pub(crate) fn annotated_toml(
    policy: &Policy,
    header: &str,
    note: &dyn Fn(&str, &str) -> Option<String>,
) -> String {
    let mut out = header.to_owned();
    let mut section = String::new();
    for line in policy.to_toml().lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = name.trim_matches(['[', ']']).to_owned();
            // One blank line before each section, whatever the serialiser wrote.
            while out.ends_with("\n\n") {
                out.pop();
            }
            out.push('\n');
            if section == "features" {
                out.push_str(&format!("# Proposals: true to {FEATURES}.\n"));
            }
        } else if let Some((key, _)) = t.split_once(" = ") {
            if section == "features" {
                // One line per proposal that applies to core modules; the component-model
                // flags change nothing for them and are left out (absent keys keep the
                // preset's value, false in every preset).
                // Descriptions start with an instruction or a type (`memory.copy`, `v128`):
                // written as they are, not capitalised.
                match key.parse::<cage::Proposal>().ok().and_then(proposal_doc) {
                    Some(doc) => out.push_str(&format!("# {doc}.\n")),
                    None => continue,
                }
            } else if let Some(d) = key_doc(&section, key) {
                out.push_str(&format!(
                    "# {}. Protects against {}.\n",
                    capitalise(d.meaning),
                    d.protects
                ));
            }
            if let Some(n) = note(&section, key) {
                for l in n.lines() {
                    out.push_str(&format!("# {l}\n"));
                }
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

fn init(preset: &str, out: Option<PathBuf>) -> ExitCode {
    let preset: Preset = match preset.parse() {
        Ok(p) => p,
        Err(e) => return crate::fail(EXIT_CONFIG, e),
    };
    let text = commented_toml(preset);
    match out {
        None => {
            // A closed pipe ends it as `println!` would (see `guard_stdio` in main).
            match std::io::stdout().write_all(text.as_bytes()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    ExitCode::from(crate::EXIT_BROKEN_PIPE)
                }
                Err(e) => crate::fail(crate::EXIT_IOERR, format!("cannot write to stdout: {e}")),
                Ok(()) => ExitCode::SUCCESS,
            }
        }
        Some(path) => {
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
            match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => crate::fail(
                    crate::EXIT_NOINPUT,
                    format!("--out {}: cannot write: {e}", path.display()),
                ),
            }
        }
    }
}

/// Every key of `policy` as (`section.key`, value), from its serialised form.
fn keys(policy: &Policy) -> Vec<(String, Json)> {
    let v = serde_json::to_value(policy).unwrap_or(Json::Null);
    let mut out = Vec::new();
    if let Json::Object(sections) = v {
        for (section, body) in sections {
            if let Json::Object(keys) = body {
                for (k, value) in keys {
                    out.push((format!("{section}.{k}"), value));
                }
            }
        }
    }
    out
}

fn with_file(file: Option<PathBuf>, mut policy: PolicyArgs) -> PolicyArgs {
    if file.is_some() {
        policy.policy = file;
    }
    policy
}

fn explain(file: Option<PathBuf>, args: PolicyArgs, json: bool) -> ExitCode {
    let args = with_file(file, args);
    let effective = match args.policy() {
        Ok(p) => p,
        Err(e) => {
            let kind = crate::policy_error_kind(&e);
            return crate::fail_json(json, kind.status(), kind, None, &e);
        }
    };
    let mut rows = Vec::new();
    for (key, value) in keys(&effective) {
        let (section, name) = key.split_once('.').unwrap_or(("", &key));
        let (meaning, protects) = match key_doc(section, name) {
            Some(d) => (d.meaning, d.protects),
            None if section == "features" => {
                // Component-model flags do not apply to core modules: not shown.
                match name.parse::<cage::Proposal>().ok().and_then(proposal_doc) {
                    Some(doc) => (doc, "proposals nobody reviewed for the guests"),
                    None => continue,
                }
            }
            None => ("", ""),
        };
        // Where the value comes from: a flag or the file that sets the key, whatever its
        // value (a file that repeats the preset's value still decides it), else the preset.
        let source = args.source_of(section, name).kind();
        rows.push(json!({"key": key, "value": value, "source": source,
                         "meaning": meaning, "protects": protects}));
    }
    if json {
        println!("{}", json!({"keys": rows}));
    } else {
        // Columns as wide as their longest cell (a value wider than 24 characters, e.g. a list
        // of directories, overflows its column instead of widening it for every row).
        let key_width = rows
            .iter()
            .map(|r| r["key"].as_str().map_or(0, str::len))
            .max()
            .unwrap_or(0);
        let value_width = rows
            .iter()
            .map(|r| r["value"].to_string().chars().count())
            .filter(|w| *w <= 24)
            .max()
            .unwrap_or(0);
        for r in &rows {
            println!(
                "{:<key_width$} {:<value_width$} {:<7} {}",
                r["key"].as_str().unwrap_or(""),
                r["value"].to_string(),
                r["source"].as_str().unwrap_or(""),
                r["meaning"].as_str().unwrap_or("")
            );
        }
    }
    ExitCode::SUCCESS
}

/// The maxima over runtimes of a `cage profile --json` output.
fn observations(path: &std::path::Path) -> Result<Observations, (ErrorKind, String)> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        (
            ErrorKind::Filesystem,
            format!("--profile {}: cannot read: {e}", path.display()),
        )
    })?;
    let usage = |m: String| (ErrorKind::Usage, m);
    let v: Json = serde_json::from_str(&text).map_err(|e| {
        usage(format!(
            "--profile {}: not cage profile --json output: {e}",
            path.display()
        ))
    })?;
    let runtimes = v["runtimes"]
        .as_array()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            usage(format!(
                "--profile {}: no `runtimes` (cage profile --json output)",
                path.display()
            ))
        })?;
    let max_u64 = |f: &dyn Fn(&Json) -> &Json| runtimes.iter().filter_map(|r| f(r).as_u64()).max();
    let mut o = Observations::default();
    o.fuel = max_u64(&|r| &r["fuel"]["max"]);
    o.peak_memory_bytes = max_u64(&|r| &r["peak_memory_bytes"]["max"]);
    o.peak_table_elements = max_u64(&|r| &r["peak_table_elements"]["max"]);
    o.min_stack_bytes = max_u64(&|r| &r["min_stack_bytes"]);
    o.wall = runtimes
        .iter()
        .filter_map(|r| r["wall_ms"]["max"].as_f64())
        .max_by(f64::total_cmp)
        .map(|ms| std::time::Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    Ok(o)
}

fn audit_cmd(
    file: Option<PathBuf>,
    args: PolicyArgs,
    json: bool,
    deny: &str,
    profile: Option<PathBuf>,
) -> ExitCode {
    let deny: Severity = match deny.parse() {
        Ok(d) => d,
        Err(e) => {
            return crate::fail_json(json, EXIT_USAGE, ErrorKind::Usage, None, &e);
        }
    };
    let args = with_file(file, args);
    let policy = match args.policy() {
        Ok(p) => p,
        Err(e) => {
            let kind = crate::policy_error_kind(&e);
            return crate::fail_json(json, kind.status(), kind, None, &e);
        }
    };
    let mut findings = audit(&policy);
    if let Some(path) = &profile {
        match observations(path) {
            Ok(o) => {
                findings.extend(audit_against(&policy, &o));
                findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
            }
            Err((kind, e)) => return crate::fail_json(json, kind.status(), kind, None, &e),
        }
    }
    let denied = findings.iter().any(|f| f.severity >= deny);
    if json {
        println!(
            "{}",
            json!({"findings": findings, "deny": deny.name(), "denied": denied})
        );
    } else {
        if findings.is_empty() {
            println!("no findings");
        }
        for f in &findings {
            println!(
                "{:<6} {}: {}\n       fix: {}",
                f.severity.name().to_uppercase(),
                f.key,
                f.problem,
                f.fix
            );
        }
    }
    if denied {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
