//! The `cage` command line: run, inspect, conformance, fuzz, bench.
//!
//! Exit status (also in the README):
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
mod conformance;
mod fuzz;
mod inspect;
mod policy_args;
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
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
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
    }
}

/// Prints an error for a person and returns `code`.
pub fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("cage: {msg}");
    ExitCode::from(code)
}
