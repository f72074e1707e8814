//! Cage's own benchmark programs (`bench/programs/`, C compiled for WASI preview 1): a module
//! given as `cage bench MODULE -- ARGS` gives it, with its arguments and a preopened directory,
//! runs once on every engine (Cage's runtimes in every configuration, the raw runtimes with
//! their own WASI), verified against its expected output with identical fuel; and the folder
//! loads as a suite with its manifest's arguments and directories. No timing is asserted.

use std::path::{Path, PathBuf};

use cage::policy::{Dir, DirMode};
use cage_bench::programs::{
    Engine, Options, Phase, Program, ProgramResult, Status, load_suite, run_program,
};

fn bench_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn programs_dir() -> PathBuf {
    bench_dir().join("programs")
}

/// `cage bench --dir-ro HOST::GUEST MODULE -- ARGS` as the CLI builds it: the default preset,
/// argv = [file name, ARGS…], one read-only preopen.
fn module(name: &str, host: &Path, guest: &str, args: &[&str]) -> Program {
    let path = programs_dir().join(format!("{name}.wasm"));
    let mut policy = cage::Policy::default();
    policy.wasi.args = std::iter::once(format!("{name}.wasm"))
        .chain(args.iter().map(|a| (*a).to_owned()))
        .collect();
    policy.wasi.dirs.push(Dir::new(host, guest, DirMode::Ro));
    policy.validate().expect("a valid policy");
    Program::module(&path, policy).expect("the module loads")
}

fn run(p: &Program) -> ProgramResult {
    let options = Options {
        phases: vec![Phase::Compile],
        ..Options::smoke()
    };
    cage::on_guest_thread(&p.policy, || run_program(p, &options, &mut |_| {}))
        .expect("a guest thread")
}

/// Every target ran and was verified, with one fuel count.
fn assert_verified_everywhere(r: &ProgramResult) {
    assert_eq!(r.failure, None, "{}: {:#?}", r.name, r.targets);
    assert!(!r.markers, "{} has no markers", r.name);
    for t in &r.targets {
        assert_eq!(t.status, Status::Ok, "{} on {}", r.name, t.target.id());
        for ph in [Phase::Compile, Phase::Instantiate, Phase::Execute] {
            assert_eq!(t.phases.get(&ph).map(|s| s.n), Some(1), "{}", t.target.id());
        }
        if t.target.engine.kind() == "cage" {
            assert_eq!(t.fuel.is_some(), t.target.limits.fuel, "{}", t.target.id());
            assert_eq!(t.ns_per_fuel.is_some(), t.target.limits.fuel);
        }
    }
    let fuel: Vec<u64> = r.targets.iter().filter_map(|t| t.fuel).collect();
    assert!(
        !fuel.is_empty() && fuel.iter().all(|f| *f == fuel[0]),
        "{fuel:?}"
    );
    // Every raw engine is a target, and ran (the assertion above: status ok).
    for raw in [
        Engine::RawWasmtime,
        Engine::RawWasmer(cage::RuntimeName::WasmerCranelift),
        Engine::RawWasmer(cage::RuntimeName::WasmerSinglepass),
    ] {
        assert!(
            r.targets.iter().any(|t| t.target.engine == raw),
            "{}",
            raw.name()
        );
    }
}

#[test]
fn a_c_program_given_as_a_module_with_arguments_is_verified_on_every_engine() {
    let input = bench_dir().join("suites/sightglass/pulldown-cmark");
    let mut p = module(
        "wordfreq",
        &input,
        "/data",
        &["/data/default.input.md", "20"],
    );
    // What `cage bench MODULE` checks is agreement; here also the known answer.
    let expected = std::fs::read(programs_dir().join("wordfreq.stdout.expected")).unwrap();
    p.expected.stdout = Some(expected);
    p.expected.exit_code = Some(0);
    assert_verified_everywhere(&run(&p));
}

#[test]
fn a_wasi_bound_c_program_is_verified_on_every_engine() {
    let input = bench_dir().join("suites/sightglass/shootout");
    let mut p = module("grepcount", &input, ".", &[".", "include", "64"]);
    let expected = std::fs::read(programs_dir().join("grepcount.stdout.expected")).unwrap();
    p.expected.stdout = Some(expected);
    assert_verified_everywhere(&run(&p));
}

#[test]
fn an_exit_code_is_verified_like_output() {
    // A missing input: the program exits 66 on every engine; that agreement is verified, and
    // an expected exit of 0 (as a suite's) makes the benchmark fail instead of giving numbers.
    let input = bench_dir().join("programs");
    let mut p = module("wordfreq", &input, "/data", &["/data/no-such-file"]);
    let r = run(&p);
    assert_eq!(r.failure, None, "{:#?}", r.targets);
    assert!(
        r.targets
            .iter()
            .all(|t| t.exit == Some(cage_bench::programs::Exit::Code(66))),
        "{:#?}",
        r.targets
    );
    p.expected.exit_code = Some(0);
    let r = run(&p);
    assert!(r.failure.is_some_and(|f| f.contains("exit 66")));
}

#[test]
fn the_programs_folder_is_a_suite_with_arguments_and_directories() {
    let programs = load_suite(&programs_dir(), &cage::Policy::default(), false).unwrap();
    let names: Vec<&str> = programs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["wordfreq", "grepcount"]);
    let w = &programs[0];
    assert_eq!(
        w.policy.wasi.args,
        ["wordfreq.wasm", "default.input.md", "20"]
    );
    assert_eq!(w.policy.wasi.dirs.len(), 1);
    assert_eq!(w.policy.wasi.dirs[0].guest, ".");
    assert!(
        w.policy.wasi.dirs[0]
            .host
            .join("default.input.md")
            .is_file()
    );
    assert!(w.expected.stdout.is_some() && w.expected.stderr.is_none());
}

/// Random bytes (three calls of 37 bytes: not a multiple of the generator's word) and both
/// clocks (at aligned addresses), printed as raw bytes.
const DETERMINISTIC_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $random (i32.const 100) (i32.const 37)))
    (drop (call $random (i32.const 137) (i32.const 37)))
    (drop (call $random (i32.const 174) (i32.const 37)))
    (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 216)))
    (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 224)))
    ;; iovec at 0: (100, 132)
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 132))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;

#[test]
fn every_engine_sees_cages_random_stream_and_frozen_clocks() {
    // Programs whose work depends on random numbers (libsodium's tests) must do the same work
    // on every engine, so the raw engines are given Cage's stream: their output must agree.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deterministic.wat");
    std::fs::write(&path, DETERMINISTIC_WAT).unwrap();
    let mut policy = cage::Policy::default();
    policy.wasi.args = vec!["deterministic.wat".into()];
    let p = Program::module(&path, policy).unwrap();
    let r = run(&p);
    assert_eq!(r.failure, None, "{:#?}", r.targets);
    for t in &r.targets {
        assert_eq!(t.status, Status::Ok, "{}", t.target.id());
    }
}
