//! The `cage` command line: run, inspect, conformance, fuzz, bench.
//!
//! Exit status (also in docs/cli.md):
//!
//! | status | meaning |
//! |---|---|
//! | 0 | the export returned, or the WASI command exited 0 |
//! | n | the WASI command exited with n (1..=255; other codes map to 1, the report has the exact one) |
//! | 1 | runtimes disagree (`run` on several runtimes, `conformance`), a case failed, audit denied |
//! | 64 | usage error (bad flag or argument) |
//! | 65 | the module or invocation was rejected |
//! | 66 | a file or directory the command names cannot be read or written: the module, `--policy`, `--stdin`, a `--dir`/`--dir-ro` or `[[wasi.dirs]]` directory, `--inputs`, `--profile`, `--suite`, an output file (`--json FILE`, `--chart`, `--write-policy`, `--out`), … |
//! | 70 | the guest trapped |
//! | 71 | the host failed (a thread, the filesystem, resources, the runtime): not the guest's doing |
//! | 74 | stdout or stderr cannot be written (other than a closed pipe) |
//! | 78 | the policy is invalid, or the runtime is unknown or not compiled in |
//! | 141 | stdout is a pipe whose reader has gone (`cage … \| head`): ended quietly, as a program killed by `SIGPIPE` looks to a shell |

mod bench;
mod cache_cmd;
mod calibrate;
mod compare;
mod conformance;
mod fuzz;
mod inspect;
mod policy_args;
mod policy_cmd;
mod profile;
mod run;
mod scratch;
mod stubs;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};

use clap::{Parser, Subcommand};

/// Exit status of a usage error.
pub const EXIT_USAGE: u8 = 64;
/// Exit status of a rejected module or invocation.
pub const EXIT_REJECTED: u8 = 65;
/// Exit status when a file or directory the command names cannot be read or written
/// (EX_NOINPUT: one status for every file, input or output).
pub const EXIT_NOINPUT: u8 = 66;
/// Exit status of a trap.
pub const EXIT_TRAPPED: u8 = 70;
/// Exit status of a host failure (EX_OSERR).
pub const EXIT_HOST: u8 = 71;
/// Exit status of a bad policy or runtime choice.
pub const EXIT_CONFIG: u8 = 78;
/// Exit status when stdout or stderr cannot be written (EX_IOERR).
pub const EXIT_IOERR: u8 = 74;
/// Exit status when stdout is a pipe whose reader has gone: what a shell reports for a program
/// killed by `SIGPIPE` (128 + 13), as `seq 100000 | head` shows under `set -o pipefail`.
pub const EXIT_BROKEN_PIPE: u8 = 141;

/// The process exit status a report ends `cage run` with: the guest's own exit code, 0 for a
/// returned call, else the status of its outcome's class.
pub(crate) fn exit_code(report: &cage::Report) -> ExitCode {
    match report.outcome() {
        cage::Outcome::Returned(_) => ExitCode::SUCCESS,
        cage::Outcome::Exited(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        cage::Outcome::Trapped(_) => ExitCode::from(EXIT_TRAPPED),
        cage::Outcome::Rejected(_) => ExitCode::from(EXIT_REJECTED),
        cage::Outcome::HostFailure(_) => ExitCode::from(EXIT_HOST),
        _ => ExitCode::from(EXIT_HOST),
    }
}

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
    Conformance(Box<conformance::ConformanceArgs>),
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
    /// The compiled-module cache `cage run` keeps: show it (info) or empty it (clear).
    Cache(cache_cmd::CacheCmd),
}

fn main() -> ExitCode {
    guard_stdio();
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
    // A closed stdout ends the command quietly (see `guard_stdio`); destructors (scratch
    // directories, extracted corpora) still run while the panic unwinds to here.
    let dispatched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match cli.command {
        Command::Run(a) => run::main(*a),
        Command::Inspect(a) => inspect::main(a),
        Command::Bench(a) => bench::main(a),
        Command::Conformance(a) => conformance::main(*a),
        Command::Fuzz(a) => fuzz::main(a),
        Command::Policy(a) => policy_cmd::main(a),
        Command::Profile(a) => profile::main(*a),
        Command::Calibrate(a) => calibrate::main(a),
        Command::Cache(a) => cache_cmd::main(a),
    }));
    match dispatched {
        Ok(code) => code,
        Err(payload) => match STDIO_CLOSED.load(Ordering::Relaxed) {
            0 => std::panic::resume_unwind(payload),
            code => ExitCode::from(code),
        },
    }
}

/// The exit status chosen when stdout or stderr could not be written (0: not yet).
static STDIO_CLOSED: AtomicU8 = AtomicU8::new(0);

/// Makes a stdout or stderr that cannot be written end the command instead of panicking:
/// `println!` panics when its write fails ("failed printing to stdout"), and Rust ignores
/// `SIGPIPE`, so `cage bench | head` used to die with a panic message. Every subcommand prints
/// with `print!`/`println!`, so this one hook covers them all: a pipe whose reader has gone
/// ends the command silently with [`EXIT_BROKEN_PIPE`]; any other write failure says so on
/// stderr (if it can) and ends it with [`EXIT_IOERR`]. On the main thread the panic unwinds
/// to `main`, so destructors run; on another thread the process exits at once.
fn guard_stdio() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        let stream = if message.starts_with("failed printing to stdout") {
            "stdout"
        } else if message.starts_with("failed printing to stderr") {
            "stderr"
        } else {
            return default(info);
        };
        let code = if message.contains("Broken pipe") {
            EXIT_BROKEN_PIPE
        } else {
            if stream == "stdout" {
                let _ = writeln!(std::io::stderr(), "cage: cannot write to stdout: {message}");
            }
            EXIT_IOERR
        };
        STDIO_CLOSED.store(code, Ordering::Relaxed);
        if std::thread::current().name() != Some("main") {
            std::process::exit(i32::from(code));
        }
    }));
}

/// Why the CLI could not start a run: the `error` of the JSON object `--json` prints instead of a
/// report (its `outcome` is `"error"`). The text on stderr starts with the same word.
#[derive(Clone, Copy, Debug)]
pub enum ErrorKind {
    /// A bad flag, argument or invocation (exit 64).
    Usage,
    /// A file or directory the command names cannot be read or written: the module,
    /// `--policy`, `--stdin`, a preopened directory, an output file (exit 66).
    Filesystem,
    /// An invalid policy, an unknown or missing runtime, a cache that cannot be set up (exit 78).
    Config,
    /// The host failed making the runtime (exit 71).
    Host,
}

impl ErrorKind {
    /// The JSON name, also the first word of the message on stderr.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Usage => "usage",
            ErrorKind::Filesystem => "filesystem",
            ErrorKind::Config => "config",
            ErrorKind::Host => "host",
        }
    }

    /// The kind whose exit status is `code`, if any.
    pub fn of_status(code: u8) -> Option<ErrorKind> {
        [
            ErrorKind::Usage,
            ErrorKind::Filesystem,
            ErrorKind::Config,
            ErrorKind::Host,
        ]
        .into_iter()
        .find(|k| k.status() == code)
    }

    /// The exit status of this kind of failure.
    pub fn status(self) -> u8 {
        match self {
            ErrorKind::Usage => EXIT_USAGE,
            ErrorKind::Filesystem => EXIT_NOINPUT,
            ErrorKind::Config => EXIT_CONFIG,
            ErrorKind::Host => EXIT_HOST,
        }
    }
}

/// The error object `--json` prints when no run could start: every key of the report, in the
/// report's order (`cache` included, null: `cage run` reports it by default), with
/// `outcome: "error"`, `error` the kind and `message` what happened.
pub fn error_object(kind: ErrorKind, runtime: Option<&str>, msg: &str) -> serde_json::Value {
    let mut empty = cage::Report::new(
        cage::default_runtime_name(),
        &cage::Outcome::Returned(Vec::new()),
        None,
    );
    // Serialised only when set: set it to learn its place among the keys, then null it.
    empty.cache = Some(cage::CacheResult::Miss);
    let mut v = serde_json::to_value(&empty).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "runtime".into(),
            runtime.map_or(serde_json::Value::Null, Into::into),
        );
        o.insert("outcome".into(), "error".into());
        o.insert("error".into(), kind.name().into());
        o.insert("message".into(), msg.into());
        o.insert("cache".into(), serde_json::Value::Null);
    }
    v
}

/// Prints an error for a person (stderr: `cage: KIND: MESSAGE`) and, with `json`, the one JSON
/// object on stdout ([`error_object`]). Returns `code`.
pub fn fail_json(
    json: bool,
    code: u8,
    kind: ErrorKind,
    runtime: Option<&str>,
    msg: &dyn std::fmt::Display,
) -> ExitCode {
    let msg = msg.to_string();
    if json {
        println!("{}", error_object(kind, runtime, &msg));
    }
    fail(code, format!("{}: {msg}", kind.name()))
}

/// Prints an error for a person (`cage: KIND: MESSAGE`, the kind's word added when `code` is
/// the status of an [`ErrorKind`] and the message does not start with it) and returns `code`.
pub fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    let msg = msg.to_string();
    match ErrorKind::of_status(code).map(ErrorKind::name) {
        Some(kind) if !msg.starts_with(&format!("{kind}: ")) => eprintln!("cage: {kind}: {msg}"),
        _ => eprintln!("cage: {msg}"),
    }
    ExitCode::from(code)
}

/// The kind of a policy error: a file that cannot be read is `filesystem`, anything else
/// `config`.
pub fn policy_error_kind(e: &cage::PolicyError) -> ErrorKind {
    match e {
        cage::PolicyError::Io { .. } => ErrorKind::Filesystem,
        _ => ErrorKind::Config,
    }
}
