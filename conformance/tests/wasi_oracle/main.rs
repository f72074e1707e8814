//! The WASI oracle: every WASI program of the conformance suite runs twice on Wasmtime, once with
//! `wasmtime-wasi` 48.0.8's preview 1 (raw Wasmtime and `p1::add_to_linker_sync`: the reference
//! Cage's WASI follows) and once with Cage's own WASI (Cage's API, runtime `wasmtime`), and the
//! two runs are compared: the outcome, stdout, stderr, **every WASI call with the errno it
//! returned, in order**, and the files left in each preopened directory.
//!
//! Both runs execute the same module, instrumented by [`cage_conformance::oracle`]: each WASI
//! import is wrapped so that its errno is logged through `cage_oracle.log`, which each side
//! provides. One trial per program (`corpus/wasi/hello`, `wasi-testsuite/rust/fd_readdir`,
//! `fuzz/seed-12`). A difference not listed in `wasi-oracle-differences.toml` fails its trial
//! with a diff; so does a listed one that no longer differs. `CAGE_ORACLE_VERBOSE=1` prints each
//! side's steps and the listed differences too; `CAGE_ORACLE_CASES=DIR` adds cases of your own
//! (`extra/…`).
//!
//! Both sides run deterministically: no fuel, a frozen clock (`wasmtime-wasi` gets clocks that
//! read Cage's frozen instants), seeded random (ChaCha20 from the same seed on both sides; the
//! two draw bytes from it differently, so the *bytes* differ: only what the guest does with them
//! can, and then it is listed), a fresh copy of every preopen per side (with its
//! `[[case.make]]` items), and a 60-second deadline (raw side: epoch interruption, and a watchdog
//! for a host call that blocks). A program that cannot run to a comparable end on one side is
//! ignored with its reason: a corpus case that expects `trapped:out_of_fuel` or
//! `trapped:timeout`, one that opens a FIFO, and the `[[skip]]` entries of the differences file.

mod cage_side;
mod compare;
mod raw;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cage::policy::{Clock, Random};
use cage::{Policy, Value};
use cage_conformance::oracle::{Instrumented, instrument};
use cage_conformance::{Case, Expect, Make, MakeKind, copy_dir, corpus_dir, load_cases};
use libtest_mimic::{Arguments, Completion, Failed, Trial};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use compare::{WHATS, compare};

/// The deadline of each side's run.
const DEADLINE: Duration = Duration::from_secs(60);
/// How long past [`DEADLINE`] the raw side may take before its trial fails as blocked.
const WATCHDOG_MARGIN: Duration = Duration::from_secs(30);
/// The raw side's epoch tick.
const TICK: Duration = Duration::from_millis(100);
/// The fuzzer's seeds the oracle looks at (those whose modules import WASI and terminate
/// without fuel).
const FUZZ_SEEDS: std::ops::Range<u64> = 0..300;

// ---------------------------------------------------------------------------------------------
// Programs

/// What is called once the module is instantiated.
#[derive(Clone, Debug)]
enum Calls {
    /// `_start`, returning being exit 0.
    Command,
    /// These exports with these arguments, in order (a corpus case's `before` and `invoke`).
    Exports(Vec<(String, Vec<Value>)>),
    /// Every exported function in export order with zero arguments (as the fuzzer does).
    Every,
}

/// One program to compare.
#[derive(Debug)]
struct Program {
    /// The trial name: `corpus/…`, `wasi-testsuite/…` or `fuzz/seed-N`.
    name: String,
    /// The instrumented module.
    module: Instrumented,
    /// Cage's policy, made deterministic (see [`deterministic`]); its directories are the
    /// originals, copied fresh for each side.
    policy: Policy,
    /// What the case makes in its directories before it runs (`[[case.make]]`), in each
    /// side's copy.
    make: Vec<Make>,
    calls: Calls,
    /// Why it is not compared.
    skip: Option<String>,
}

/// The policy both sides run under: no fuel, the oracle's deadline, a frozen clock, seeded
/// random, captured stdio.
fn deterministic(mut p: Policy) -> Policy {
    p.limits.fuel = None;
    p.limits.fuel_per_call = false;
    p.limits.timeout = Some(DEADLINE);
    p.wasi.clock = Clock::Frozen;
    if p.wasi.random == Random::Os {
        p.wasi.random = Random::Seeded { seed: 0 };
    }
    p.wasi.inherit_stdio = false;
    p
}

fn imports_wasi(bytes: &[u8]) -> bool {
    cage::module::describe(bytes)
        .is_ok_and(|i| i.imports.iter().any(|i| i.module == cage::WASI_MODULE))
}

fn exports_start(bytes: &[u8]) -> bool {
    cage::module::describe(bytes).is_ok_and(|i| i.export_func("_start").is_some())
}

/// A corpus or testsuite case as a program.
fn case_program(prefix: &str, case: &Case) -> Result<Program, String> {
    let bytes = cage::module::to_binary(&case.source).unwrap_or_else(|_| case.source.clone());
    let module = instrument(&bytes).map_err(|e| format!("{}: {e}", case.name))?;
    let calls = match &case.spec.invoke {
        Some(export) => {
            let zeros = |e: &str| -> Vec<Value> {
                cage::module::describe(&bytes)
                    .ok()
                    .and_then(|i| i.export_func(e).cloned())
                    .map(|t| t.params.iter().map(|p| Value::default_for(*p)).collect())
                    .unwrap_or_default()
            };
            let mut list: Vec<(String, Vec<Value>)> = case
                .spec
                .before
                .iter()
                .map(|e| (e.clone(), zeros(e)))
                .collect();
            list.push((export.clone(), case.args.clone()));
            Calls::Exports(list)
        }
        None if exports_start(&bytes) => Calls::Command,
        None => Calls::Exports(Vec::new()),
    };
    let skip = match &case.expect {
        Expect::Trapped(cage::Trap::OutOfFuel) => Some(
            "expects trapped:out_of_fuel: what it tests is fuel, and the oracle runs without \
             (it may never stop)"
                .to_owned(),
        ),
        Expect::Trapped(cage::Trap::Timeout) => Some(
            "expects trapped:timeout: it sleeps or spins until a deadline, which wasmtime-wasi \
             does not interrupt in a host call"
                .to_owned(),
        ),
        _ if case.spec.make.iter().any(|m| m.kind == MakeKind::Fifo) => Some(
            "opens a FIFO: wasmtime-wasi's path_open blocks its thread in open(2) until a \
             writer comes, and no deadline interrupts a host call"
                .to_owned(),
        ),
        _ => None,
    };
    Ok(Program {
        name: format!("{prefix}{}", case.name),
        module,
        policy: deterministic(case.policy.clone()),
        make: case.spec.make.clone(),
        calls,
        skip,
    })
}

/// Every program: the corpus's WASI cases (`wasi/` and any case whose module imports WASI),
/// the official WASI testsuite, and the fuzzer's terminating WASI modules among
/// [`FUZZ_SEEDS`] that Cage accepts.
fn programs(empty_dir: &Path) -> Vec<Program> {
    let mut out = Vec::new();
    let cases = load_cases(&corpus_dir()).unwrap_or_else(|e| panic!("the corpus: {e}"));
    for case in &cases {
        let bytes = cage::module::to_binary(&case.source).unwrap_or_default();
        if case.name.starts_with("wasi/") || imports_wasi(&bytes) {
            out.push(case_program("corpus/", case).unwrap_or_else(|e| panic!("{e}")));
        }
    }
    let tests = cage_conformance::wasi_testsuite::load_wasi_tests(
        &cage_conformance::wasi_testsuite::wasi_testsuite_dir(),
    )
    .unwrap_or_else(|e| panic!("the WASI testsuite: {e}"));
    for test in &tests {
        out.push(case_program("", test).unwrap_or_else(|e| panic!("{e}")));
    }
    // Your own cases (a directory or file in the corpus format), to reproduce or probe a
    // difference: `CAGE_ORACLE_CASES=DIR cargo test --release -p cage-conformance --test
    // wasi_oracle -- extra/`.
    if let Some(dir) = std::env::var_os("CAGE_ORACLE_CASES") {
        let cases =
            load_cases(Path::new(&dir)).unwrap_or_else(|e| panic!("CAGE_ORACLE_CASES: {e}"));
        for case in &cases {
            out.push(case_program("extra/", case).unwrap_or_else(|e| panic!("{e}")));
        }
    }
    for seed in FUZZ_SEEDS {
        use cage_conformance::fuzz::{Shape, fuzz_policy_for, generate};
        let shape = Shape::of(seed);
        if !shape.imports || !shape.terminating {
            continue;
        }
        let Some(bytes) = generate(seed) else {
            continue;
        };
        let policy = deterministic(fuzz_policy_for(seed, shape, Some(empty_dir)));
        if !imports_wasi(&bytes) || cage::check(&bytes, &policy).is_err() {
            continue;
        }
        out.push(Program {
            name: format!("fuzz/seed-{seed}"),
            module: instrument(&bytes).unwrap_or_else(|e| panic!("seed {seed}: {e}")),
            policy,
            make: Vec::new(),
            calls: Calls::Every,
            skip: None,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// What a run shows

/// A step's outcome, coarsely: traps are compared as "trapped", whatever the trap.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Returned(Vec<String>),
    Exited(i32),
    Trapped,
    Rejected,
    /// Cage's `host_failure` (the host's fault, not the guest's).
    HostFailure,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Returned(v) => write!(f, "returned [{}]", v.join(", ")),
            Outcome::Exited(n) => write!(f, "exited {n}"),
            Outcome::Trapped => f.write_str("trapped"),
            Outcome::Rejected => f.write_str("rejected"),
            Outcome::HostFailure => f.write_str("host_failure"),
        }
    }
}

/// Instantiation or one call.
#[derive(Clone, Debug)]
struct Step {
    what: String,
    outcome: Outcome,
    /// The trap or error message (shown, not compared).
    message: Option<String>,
    /// Whether it ran out of stack (frames differ: nothing after it is compared).
    stack_overflow: bool,
    /// Length of the WASI log when the step ended.
    log_len: usize,
}

/// Everything one side did with a program.
#[derive(Clone, Debug, Default)]
struct Observation {
    steps: Vec<Step>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    log: Vec<(u32, i32)>,
    /// Per preopen, in policy order: the files left (see [`files_in`]).
    files: Vec<Vec<String>>,
}

/// A value as both sides print it.
fn show_value(v: &Value) -> String {
    match v {
        Value::I32(x) => format!("i32:{x}"),
        Value::I64(x) => format!("i64:{x}"),
        Value::F32(b) => format!("f32:{b:#x}"),
        Value::F64(b) => format!("f64:{b:#x}"),
        Value::V128(b) => format!("v128:{b:#x}"),
        Value::FuncRef { null } => format!("funcref{}", if *null { ":null" } else { "" }),
        Value::ExternRef(r) => format!("externref{}", if r.is_none() { ":null" } else { "" }),
        Value::AnyRef { null } => format!("anyref{}", if *null { ":null" } else { "" }),
        Value::ExnRef { null } => format!("exnref{}", if *null { ":null" } else { "" }),
        other => format!("{other:?}"),
    }
}

/// Files larger than this are compared by size only.
const HASHED_FILE_SIZE: u64 = 64 << 20;

/// The files under `dir`, sorted: relative path, kind, and for a file its size and SHA-256
/// (first 16 hex digits; by size only above [`HASHED_FILE_SIZE`]), for a link its target. Not
/// timestamps.
fn files_in(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap_or_default();
                out.push(format!("{rel} link -> {}", target.display()));
            } else if meta.is_dir() {
                out.push(format!("{rel}/ dir"));
                walk(root, &path, out);
            } else if !meta.is_file() {
                // A FIFO, socket or device: never opened (a FIFO would block).
                out.push(format!("{rel} other"));
            } else if meta.len() > HASHED_FILE_SIZE {
                // A large (often sparse) file: its size is compared, its contents not read.
                out.push(format!("{rel} file {} bytes", meta.len()));
            } else {
                let mut hash = Sha256::new();
                let read = hash_file(&path, &mut hash);
                let hex: String = hash.finalize()[..8]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                out.push(format!("{rel} file {read} bytes sha256 {hex}"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Feeds the file at `path` to `hash`; returns the bytes read.
fn hash_file(path: &Path, hash: &mut Sha256) -> u64 {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else {
        return 0;
    };
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0;
    while let Ok(n @ 1..) = f.read(&mut buf) {
        hash.update(&buf[..n]);
        total += n as u64;
    }
    total
}

/// Fresh copies of a program's preopens for one side, removed on drop.
struct Copies {
    _root: tempfile::TempDir,
    dirs: Vec<PathBuf>,
}

impl Copies {
    /// Copies `p`'s preopens and makes its `[[case.make]]` items in the copies.
    fn new(p: &Program) -> std::io::Result<Self> {
        let root = tempfile::Builder::new().prefix("cage-oracle-").tempdir()?;
        let mut dirs = Vec::new();
        for (i, d) in p.policy.wasi.dirs.iter().enumerate() {
            let copy = root.path().join(i.to_string());
            copy_dir(&d.host, &copy)?;
            dirs.push(copy);
        }
        for m in &p.make {
            let dir = dirs.get(m.dir).ok_or_else(|| {
                std::io::Error::other(format!("[[case.make]] names wasi.dirs entry {}", m.dir))
            })?;
            m.make(dir)?;
        }
        Ok(Copies { _root: root, dirs })
    }

    fn files(&self) -> Vec<Vec<String>> {
        self.dirs.iter().map(|d| files_in(d)).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The differences file

/// One expected difference.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Difference {
    program: String,
    what: String,
    reason: String,
}

/// A program that is not compared, and why (it cannot run to a comparable end on one side).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Skip {
    program: String,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DifferencesFile {
    #[serde(default)]
    difference: Vec<Difference>,
    #[serde(default)]
    skip: Vec<Skip>,
}

fn differences_file() -> DifferencesFile {
    toml::from_str::<DifferencesFile>(include_str!("../../wasi-oracle-differences.toml"))
        .expect("wasi-oracle-differences.toml parses")
}

/// Runs both sides and judges the differences against the list.
fn trial(p: &Arc<Program>, listed: &[Difference]) -> Result<Completion, Failed> {
    if let Some(why) = &p.skip {
        return Ok(Completion::ignored_with(why));
    }
    let cage = cage_side::run(p).map_err(|e| Failed::from(format!("Cage's run failed: {e}")))?;
    // The raw side on its own thread (a large stack, as Cage's guest threads have), watched: a
    // host call that blocks is not interrupted by the epoch deadline.
    let (send, receive) = std::sync::mpsc::channel();
    let program = p.clone();
    std::thread::Builder::new()
        .name("oracle-wasmtime-wasi".into())
        .stack_size(32 << 20)
        .spawn(move || {
            let _ = send.send(raw::run(&program));
        })
        .map_err(|e| Failed::from(format!("cannot start a thread: {e}")))?;
    let raw = match receive.recv_timeout(DEADLINE + WATCHDOG_MARGIN) {
        Ok(r) => r.map_err(|e| Failed::from(format!("wasmtime-wasi's run failed: {e}")))?,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            return Err(Failed::from(format!(
                "wasmtime-wasi's run did not end within {} s: blocked in a host call (give \
                 such programs a skip reason in tests/wasi_oracle/main.rs)",
                (DEADLINE + WATCHDOG_MARGIN).as_secs()
            )));
        }
        Err(_) => return Err(Failed::from("wasmtime-wasi's run panicked")),
    };
    let found = compare(p, &cage, &raw);
    let verbose = std::env::var_os("CAGE_ORACLE_VERBOSE").is_some();
    if verbose {
        for (side, o) in [("Cage", &cage), ("wasmtime-wasi", &raw)] {
            let steps: Vec<String> = o
                .steps
                .iter()
                .map(|s| {
                    let m = s.message.as_deref().unwrap_or("");
                    let m = m.lines().last().unwrap_or("");
                    format!(
                        "`{}` {}{}",
                        s.what,
                        s.outcome,
                        if m.is_empty() {
                            String::new()
                        } else {
                            format!(" ({m})")
                        }
                    )
                })
                .collect();
            eprintln!(
                "{}: {side}: {}; {} WASI calls",
                p.name,
                steps.join(", "),
                o.log.len()
            );
        }
    }
    let mut failures = String::new();
    for (what, detail) in &found {
        match listed.iter().find(|l| l.what == *what) {
            Some(l) if verbose => eprintln!(
                "{}: {what} differs as listed ({})\n    {detail}",
                p.name,
                l.reason.lines().next().unwrap_or("")
            ),
            Some(_) => {}
            None => {
                let _ = write!(failures, "\n  {what} differs (not listed):\n    {detail}");
            }
        }
    }
    for l in listed {
        if !found.contains_key(l.what.as_str()) {
            let _ = write!(
                failures,
                "\n  {} is listed in wasi-oracle-differences.toml but no longer differs: \
                 remove it",
                l.what
            );
        }
    }
    if failures.is_empty() {
        Ok(Completion::Completed)
    } else {
        Err(Failed::from(format!(
            "{} against wasmtime-wasi 48.0.8:{failures}",
            p.name
        )))
    }
}

/// The differences file's own checks: every entry names a program and an aspect, has a reason,
/// and appears once; a skipped program has no differences listed.
fn check_file(file: &DifferencesFile, names: &BTreeSet<String>) -> Result<(), Failed> {
    let mut bad = Vec::new();
    let mut seen = BTreeSet::new();
    for l in &file.difference {
        if !names.contains(&l.program) {
            bad.push(format!("{}: no such program", l.program));
        }
        if !WHATS.contains(&l.what.as_str()) {
            bad.push(format!(
                "{}: `what = {:?}` is not one of {WHATS:?}",
                l.program, l.what
            ));
        }
        if l.reason.trim().is_empty() {
            bad.push(format!("{} {}: no reason", l.program, l.what));
        }
        if !seen.insert((l.program.clone(), l.what.clone())) {
            bad.push(format!("{} {}: listed twice", l.program, l.what));
        }
    }
    for k in &file.skip {
        if !names.contains(&k.program) {
            bad.push(format!("skip {}: no such program", k.program));
        }
        if k.reason.trim().is_empty() {
            bad.push(format!("skip {}: no reason", k.program));
        }
        if file.difference.iter().any(|l| l.program == k.program) {
            bad.push(format!("{}: skipped, and differences listed", k.program));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Failed::from(bad.join("\n")))
    }
}

fn main() {
    let args = Arguments::from_args();
    let scratch = tempfile::Builder::new()
        .prefix("cage-oracle-empty-")
        .tempdir()
        .expect("a temporary directory");
    let mut programs = programs(scratch.path());
    let file = differences_file();
    for k in &file.skip {
        for p in programs.iter_mut().filter(|p| p.name == k.program) {
            p.skip.get_or_insert_with(|| k.reason.clone());
        }
    }
    let names: BTreeSet<String> = programs.iter().map(|p| p.name.clone()).collect();
    let mut trials = Vec::new();
    let listed = file.difference.clone();
    trials.push(Trial::test("wasi-oracle-differences.toml", move || {
        check_file(&file, &names)
    }));
    for p in programs {
        let mine: Vec<Difference> = listed
            .iter()
            .filter(|l| l.program == p.name)
            .cloned()
            .collect();
        let p = Arc::new(p);
        trials.push(Trial::ignorable_test(p.name.clone(), move || {
            trial(&p, &mine)
        }));
    }
    let conclusion = libtest_mimic::run(&args, trials);
    drop(scratch);
    conclusion.exit();
}
