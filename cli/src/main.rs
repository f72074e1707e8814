//! The `cage` command line: run, inspect, conformance, fuzz, bench.
//!
//! Exit status (also in docs/cli.md):
//!
//! | status | meaning |
//! |---|---|
//! | 0 | the export returned, or the WASI command exited 0 |
//! | n | the WASI command exited with n (1..=255; other codes map to 1, the report has the exact one) |
//! | 64 | usage error (bad flag or argument) |
//! | 65 | the module or invocation was rejected |
//! | 70 | the guest trapped |
//! | 71 | the host failed (a thread, the filesystem, resources, the runtime): not the guest's doing |
//! | 78 | the policy is invalid, or the runtime is unknown or not compiled in |

mod bench;
mod calibrate;
mod conformance;
mod fuzz;
mod inspect;
mod policy_args;
mod policy_cmd;
mod profile;
mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status of a usage error.
pub const EXIT_USAGE: u8 = 64;
/// Exit status of a rejected module or invocation.
pub const EXIT_REJECTED: u8 = 65;
/// Exit status of a trap.
pub const EXIT_TRAPPED: u8 = 70;
/// Exit status of a host failure (EX_OSERR).
pub const EXIT_HOST: u8 = 71;
/// Exit status of a bad policy or runtime choice.
pub const EXIT_CONFIG: u8 = 78;

/// The exit status for an error making a runtime: a host failure is 71, anything else (unknown,
/// not compiled in, invalid policy) 78.
pub fn runtime_error_status(e: &cage::RuntimeError) -> u8 {
    match e {
        cage::RuntimeError::Failed(cage::Error::Host { .. }) => EXIT_HOST,
        _ => EXIT_CONFIG,
    }
}

/// Cage runs untrusted WebAssembly under one policy on the runtime you choose.
#[derive(Parser)]
#[command(name = "cage", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a module: call an export (--invoke) or run it as a WASI command.
    Run(Box<run::RunArgs>),
    /// Show a module's imports, exports, memories, tables, proposals and the policy's verdict.
    Inspect(inspect::InspectArgs),
    /// Comparative benchmarks of the runtimes: table, JSON and an SVG chart.
    Bench(bench::BenchArgs),
    /// Run conformance cases (default: the built-in hostile corpus) on every runtime and
    /// demand one identical, expected outcome; or the spec testsuite (--spec).
    Conformance(conformance::ConformanceArgs),
    /// Differential fuzzing: wasm-smith modules on every runtime, compared.
    Fuzz(fuzz::FuzzArgs),
    /// Policies: write a complete one (init), show where each value comes from (explain), find
    /// risky settings (audit).
    Policy(policy_cmd::PolicyCmd),
    /// Measure a module on every runtime (fuel, time, memory, tables, stack, output) and
    /// recommend a policy from what it used, verified by re-running under it.
    Profile(Box<profile::ProfileArgs>),
    /// Measure nanoseconds per fuel unit per runtime on this machine over several kinds of
    /// work, and convert between a timeout and a fuel budget.
    Calibrate(calibrate::CalibrateArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            if !e.use_stderr() {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // `--json` promises one object on stdout, also for a usage error.
            let mut args = std::env::args().skip(1);
            let json = matches!(args.next().as_deref(), Some("run" | "inspect"))
                && std::env::args().any(|a| a == "--json");
            let _ = e.print();
            if json {
                let msg = e.kind().to_string();
                let _ = fail_json(true, EXIT_USAGE, ErrorKind::Usage, None, &msg);
            }
            return ExitCode::from(EXIT_USAGE);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Run(a) => run::main(*a),
        Command::Inspect(a) => inspect::main(a),
        Command::Bench(a) => bench::main(a),
        Command::Conformance(a) => conformance::main(a),
        Command::Fuzz(a) => fuzz::main(a),
        Command::Policy(a) => policy_cmd::main(a),
        Command::Profile(a) => profile::main(*a),
        Command::Calibrate(a) => calibrate::main(a),
    }
}

/// Why the CLI could not start a run: the `error` of the JSON object `--json` prints instead of a
/// report (its `outcome` is `"error"`).
#[derive(Clone, Copy, Debug)]
pub enum ErrorKind {
    /// A bad flag, argument or invocation (exit 64).
    Usage,
    /// The module file cannot be read (exit 65).
    Io,
    /// An invalid policy, an unknown or missing runtime, a cache that cannot be set up (exit 78).
    Config,
    /// The host failed making the runtime (exit 71).
    Host,
}

impl ErrorKind {
    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Usage => "usage",
            ErrorKind::Io => "io",
            ErrorKind::Config => "config",
            ErrorKind::Host => "host",
        }
    }
}

/// Prints an error for a person (stderr) and, with `json`, the one JSON object on stdout: the
/// report's keys, `outcome: "error"` and `error` the kind. Returns `code`.
pub fn fail_json(
    json: bool,
    code: u8,
    kind: ErrorKind,
    runtime: Option<&str>,
    msg: &dyn std::fmt::Display,
) -> ExitCode {
    if json {
        let v = serde_json::json!({
            "runtime": runtime,
            "outcome": "error",
            "values": [],
            "exit_code": null,
            "trap": null,
            "error": kind.name(),
            "message": msg.to_string(),
            "fuel_consumed": null,
            "wall_ms": 0.0,
            "peak_memory_bytes": 0,
            "stdout": "",
            "stderr": "",
        });
        println!("{v}");
    }
    fail(code, msg)
}

/// Prints an error for a person and returns `code`.
pub fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("cage: {msg}");
    ExitCode::from(code)
}
