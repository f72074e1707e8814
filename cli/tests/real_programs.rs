//! Real programs from the command line (issue 24): custom imports stubbed, every runtime at
//! once, static limits raised from the command line, the compile cache on by default, one
//! contract for errors, a profile that leaves the user's directories alone, and policy
//! documentation that shows only what applies. Each test proves one friction gone.
//!
//! Why one file over 800 lines: one test binary for the real-program frictions; each test
//! stands alone.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cage-real-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A `cage` command whose user directories (compile cache, cache key) are under `home`.
fn cage_in(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cage"))
        .args(args)
        .current_dir(root())
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .output()
        .expect("cannot run cage")
}

fn cage(args: &[&str]) -> Output {
    let home = std::env::temp_dir().join(format!("cage-real-home-{}", std::process::id()));
    cage_in(&home, args)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    let text = stdout(out);
    assert_eq!(
        text.lines().count(),
        1,
        "one JSON line: {text}\n{}",
        stderr(out)
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const BZ2: &str = "bench/suites/sightglass/bz2/benchmark.wasm";
const BZ2_DIR: &str = "bench/suites/sightglass/bz2::.";

/// The done-when command: Sightglass's bz2 (imports `bench.start`/`bench.end`, reads
/// `./default.input` from a read-only `.` preopen of its folder) agrees on every runtime, and
/// prints what upstream expects.
#[test]
fn sightglass_bz2_agrees_on_every_runtime() {
    let table = cage(&[
        "run",
        "--runtime",
        "all",
        "--stub",
        "bench::*",
        "--dir-ro",
        BZ2_DIR,
        BZ2,
    ]);
    let text = stdout(&table);
    assert_eq!(table.status.code(), Some(0), "{text}{}", stderr(&table));
    assert!(text.contains("agree: yes"), "{text}");
    let runtimes = cage::available_runtimes();
    for rt in &runtimes {
        assert!(
            text.lines()
                .any(|l| l.starts_with(rt.as_str()) && l.contains("exited")),
            "{text}"
        );
    }
    // The same with fuel: identical on every runtime, and the output upstream expects.
    let out = cage(&[
        "run",
        "--runtime",
        "all",
        "--stub",
        "bench::*",
        "--dir-ro",
        BZ2_DIR,
        "--fuel",
        "100_000_000_000",
        "--json",
        BZ2,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["agree"], true, "{v}");
    assert_eq!(v["differences"], serde_json::json!([]));
    let expected = std::fs::read_to_string(
        root().join("bench/suites/sightglass/bz2/benchmark.stdout.expected"),
    )
    .unwrap();
    let fuel = &v["runtimes"][runtimes[0].as_str()]["fuel_consumed"];
    assert!(fuel.as_u64().unwrap() > 1_000_000, "{v}");
    for rt in &runtimes {
        let r = &v["runtimes"][rt.as_str()];
        assert_eq!(r["outcome"], "exited", "{rt}: {r}");
        assert_eq!(r["exit_code"], 0);
        assert_eq!(&r["fuel_consumed"], fuel, "{rt}");
        let got: Vec<&str> = r["stdout"].as_str().unwrap().lines().collect();
        let want: Vec<&str> = expected.lines().collect();
        assert_eq!(got, want, "{rt}");
        assert_eq!(r["stdout_sha256"].as_str().unwrap().len(), 64);
    }
    // Without the stubs, the refusal says how to provide the imports.
    let out = cage(&["run", "--json", "--dir-ro", BZ2_DIR, BZ2]);
    assert_eq!(out.status.code(), Some(65));
    let v = json(&out);
    assert_eq!(v["error"], "unresolved_import", "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("--stub 'bench::*'"),
        "{v}"
    );
}

/// A stub returns zeros of its result types and costs 100 fuel a call; the Sightglass markers
/// cost nothing. `inspect`, `profile` and `conformance` take `--stub` too.
#[test]
fn stubs_return_zeros_and_cost_the_documented_fuel() {
    let dir = scratch("stubs");
    let m = write(
        &dir,
        "custom.wat",
        r#"(module
             (import "env" "get" (func $get (param i32) (result i64 f64)))
             (import "bench" "start" (func $start))
             (import "bench" "end" (func $end))
             (func (export "twice") (result i64 f64)
               (call $start)
               (drop (call $get (i32.const 1))) (drop)
               (call $get (i32.const 2))
               (call $end)))"#,
    );
    let m = m.to_str().unwrap();
    let run = |stubs: &[&str]| {
        let mut args = vec![
            "run",
            "--runtime",
            "all",
            "--json",
            "--fuel",
            "1000000",
            "--invoke",
            "twice",
        ];
        for s in stubs {
            args.extend(["--stub", s]);
        }
        args.push(m);
        cage(&args)
    };
    let out = run(&["env::get", "bench::*"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["agree"], true, "{v}");
    let r = &v["runtimes"]["wasmtime"];
    assert_eq!(r["values"], serde_json::json!(["i64:0", "f64:0"]), "{r}");
    let with_stubs = r["fuel_consumed"].as_u64().unwrap();
    // Fuel: two calls of a 100-fuel stub; the markers add only the guest's own call costs.
    let out = run(&["env::*", "bench::start", "bench::end"]);
    let v2 = json(&out);
    assert_eq!(
        v2["runtimes"]["wasmtime"]["fuel_consumed"].as_u64(),
        Some(with_stubs)
    );
    assert!((200..240).contains(&with_stubs), "{with_stubs}");
    // A missing stub is the usual refusal, with the flag that fixes it.
    let out = cage(&[
        "run", "--json", "--invoke", "twice", "--stub", "bench::*", m,
    ]);
    assert_eq!(out.status.code(), Some(65));
    assert!(
        json(&out)["message"]
            .as_str()
            .unwrap()
            .contains("--stub env::get")
    );
    // A bad pattern is a usage error.
    let out = cage(&["run", "--stub", "env.get", "--invoke", "twice", m]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    // inspect: the verdict with the stubs, and which imports they cover.
    let out = cage(&[
        "inspect", "--json", "--stub", "env::get", "--stub", "bench::*", m,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let v = json(&out);
    assert_eq!(v["verdict"]["accepted"], true, "{v}");
    assert_eq!(v["stubbed"].as_array().unwrap().len(), 3, "{v}");
    // Without them, inspect's verdict says how to provide the imports, as run's does, and the
    // runtimes' lines do not repeat it.
    let out = cage(&["inspect", m]);
    assert_eq!(out.status.code(), Some(65));
    let text = stdout(&out);
    assert!(
        text.contains("unresolved_import")
            && text.contains("--stub env::get (returns zeros, 100 fuel a call)"),
        "{text}"
    );
    assert!(
        text.lines()
            .filter(|l| l.starts_with("runtime"))
            .all(|l| l.ends_with("rejected: unresolved_import (the verdict above)")),
        "{text}"
    );
    let out = cage(&["inspect", "--json", "--stub", "env::get", m]);
    let message = json(&out)["verdict"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains(
            "--stub bench::start (a Sightglass benchmark marker: does nothing, costs no fuel)"
        ),
        "{message}"
    );
    // profile and conformance take them too.
    let out = cage(&[
        "profile",
        "--runs",
        "1",
        "--runtime",
        "wasmtime",
        "--stub",
        "env::get",
        "--stub",
        "bench::*",
        "--invoke",
        "twice",
        "--json",
        m,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(json(&out)["verified"]["ok"], true);
    let out = cage(&[
        "conformance",
        "--stub",
        "env::get",
        "--stub",
        "bench::*",
        "--invoke",
        "twice",
        m,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("agree: yes"), "{}", stdout(&out));
    // conformance MODULE explains a refusal as run does.
    let out = cage(&["conformance", "--invoke", "twice", "--stub", "env::get", m]);
    assert_eq!(out.status.code(), Some(65), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("--stub 'bench::*'"),
        "{}",
        stdout(&out)
    );
    // bench provides the Sightglass markers itself: `--stub 'bench::*'` is accepted; a stub for
    // another import is refused, naming it (the raw runtimes cannot be given stubs).
    let out = cage(&[
        "bench",
        "--stub",
        "bench::*",
        "--runtime",
        "wasmtime",
        "--config",
        "plain",
        "--phase",
        "execute",
        "--iterations",
        "1",
        "--warmup",
        "0",
        "--dir-ro",
        BZ2_DIR,
        BZ2,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = cage(&["bench", "--stub", "env::get", "--stub", "bench::*", m]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--stub env::get: custom imports env::get"),
        "{}",
        stderr(&out)
    );
}

/// `--runtime all` (and `--runtime` repeated) names what differs, exits 1 when the runtimes
/// disagree, and `cage conformance MODULE` without a case file does the same.
#[test]
fn every_runtime_at_once_names_what_differs() {
    let dir = scratch("compare");
    // Random bytes from the OS differ from run to run: stdout differs on every runtime.
    let m = write(
        &dir,
        "random.wat",
        r#"(module
             (import "wasi_snapshot_preview1" "random_get" (func $rand (param i32 i32) (result i32)))
             (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
             (memory (export "memory") 1)
             (func (export "_start")
               (drop (call $rand (i32.const 100) (i32.const 16)))
               (i32.store (i32.const 0) (i32.const 100))
               (i32.store (i32.const 4) (i32.const 16))
               (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
    );
    let m = m.to_str().unwrap();
    let out = cage(&["run", "--runtime", "wasmtime", "--runtime", "wasmer", m]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("agree: no: stdout differ"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("wasm")).count(),
        2,
        "{text}"
    );
    let out = cage(&["run", "--runtime", "all", "--json", m]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["agree"], false);
    assert_eq!(v["differences"][0]["key"], "stdout", "{v}");
    for rt in cage::available_runtimes() {
        assert_eq!(v["runtimes"][rt.as_str()]["outcome"], "exited", "{v}");
    }
    // Seeded randomness is the same everywhere: they agree.
    let seeded = write(&dir, "seeded.toml", "[wasi]\nrandom = { seed = 7 }\n");
    let out = cage(&[
        "run",
        "--runtime",
        "all",
        "--policy",
        seeded.to_str().unwrap(),
        m,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // conformance MODULE, no case file: the same comparison.
    let out = cage(&["conformance", m]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("agree: no: stdout differ"));
    let out = cage(&[
        "conformance",
        "--policy",
        seeded.to_str().unwrap(),
        "--json",
        m,
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["agree"], true);
    // The module's flags make no sense with case files.
    let out = cage(&["conformance", "--stub", "a::b", "conformance/cases/fuel"]);
    assert_eq!(out.status.code(), Some(64));
    // --help no longer calls the spec testsuite "2.0 + SIMD".
    let help = stdout(&cage(&["conformance", "--help"]));
    assert!(
        !help.contains("2.0 + SIMD") && help.contains("3.0"),
        "{help}"
    );
}

/// With several runtimes, each works in its own copy of a read-write directory: the files each
/// wrote are compared, and the user's directory is left as it was.
#[test]
fn runtimes_compared_write_into_scratch_copies() {
    let dir = scratch("files");
    let m = write(&dir, "writer.wat", WRITER);
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("keep.txt"), "kept").unwrap();
    let grant = format!("{}::/data", data.display());
    let out = cage(&[
        "run",
        "--runtime",
        "all",
        "--json",
        "--dir",
        &grant,
        m.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["agree"], true, "{v}");
    let digest = &v["runtimes"]["wasmtime"]["files_sha256"];
    assert_eq!(digest.as_str().unwrap().len(), 64, "{v}");
    assert!(
        !data.join("out.txt").exists(),
        "the user's directory is unchanged"
    );
    // One runtime runs in place, as before.
    let out = cage(&[
        "run",
        "--runtime",
        "wasmtime",
        "--dir",
        &grant,
        m.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(data.join("out.txt")).unwrap(),
        "written\n"
    );
}

/// Opens `out.txt` (created) in the first preopen and writes `written\n` to it.
const WRITER: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "out.txt")
  (data (i32.const 32) "written\n")
  (func (export "_start")
    (if (call $open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 7) (i32.const 1)
                    (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 64))
      (then unreachable))
    (i32.store (i32.const 0) (i32.const 32))
    (i32.store (i32.const 4) (i32.const 8))
    (drop (call $write (i32.load (i32.const 64)) (i32.const 0) (i32.const 1) (i32.const 8)))
    (drop (call $close (i32.load (i32.const 64))))))"#;

/// `cage profile` runs in scratch copies unless `--in-place`, stops at the first static
/// refusal, and recommends WebAssembly 2.0 plus exactly the later proposals the module uses.
#[test]
fn profile_leaves_directories_alone_and_stops_at_a_refusal() {
    let dir = scratch("profile");
    let m = write(&dir, "writer.wat", WRITER);
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    let grant = format!("{}::/data", data.display());
    let out = cage(&[
        "profile",
        "--runs",
        "2",
        "--runtime",
        "wasmtime",
        "--json",
        "--dir",
        &grant,
        m.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let v = json(&out);
    assert_eq!(v["verified"]["ok"], true, "{v}");
    assert!(
        !data.join("out.txt").exists(),
        "profile wrote into the real directory"
    );
    // The recommendation keeps the directory read-write: the guest changed it.
    assert!(
        v["recommended"]["toml"]
            .as_str()
            .unwrap()
            .contains("mode = \"rw\""),
        "{v}"
    );
    let out = cage(&[
        "profile",
        "--runs",
        "1",
        "--runtime",
        "wasmtime",
        "--in-place",
        "--dir",
        &grant,
        m.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        data.join("out.txt").exists(),
        "--in-place runs in the directory itself"
    );

    // A static refusal is reported once, before any run.
    let segments = dir.join("segments.wasm");
    std::fs::write(&segments, module_with(12, 0)).unwrap();
    let out = cage(&[
        "profile",
        "--runs",
        "3",
        "--limit",
        "max_data_segments=11",
        segments.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(65), "{}", stdout(&out));
    let text = stdout(&out);
    assert_eq!(text.matches("refused before any run").count(), 1, "{text}");
    assert!(
        text.contains("max_data_segments") && text.contains("12 data segments"),
        "{text}"
    );
    assert!(!text.contains("not completed"), "{text}");

    // Features: WebAssembly 2.0, plus the later proposal the module uses.
    let ext = write(
        &dir,
        "extended.wat",
        "(module (global $g i32 (i32.add (i32.const 1) (i32.const 2))) \
         (func (export \"get\") (result i32) (global.get $g)))",
    );
    let out = cage(&[
        "profile",
        "--runs",
        "1",
        "--runtime",
        "wasmtime",
        "--json",
        "--invoke",
        "get",
        ext.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let rec = cage::Policy::from_toml(json(&out)["recommended"]["toml"].as_str().unwrap()).unwrap();
    let want = cage::Features::WASM2.with(cage::Proposal::ExtendedConst, true);
    assert_eq!(rec.features, want);
}

/// A module of `segments` one-byte data segments and one more of `big` bytes (as `.wasm`).
fn module_with(segments: u32, big: usize) -> Vec<u8> {
    module_with_code(segments, big, 0)
}

/// [`module_with`], plus `functions` functions `(i32) -> i32` of 200 additions each (about
/// 12 ms of Cranelift's time apiece on a 2-core machine), none exported.
fn module_with_code(segments: u32, big: usize, functions: u32) -> Vec<u8> {
    fn leb(mut n: u64, out: &mut Vec<u8>) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    /// `i32.const` takes a signed LEB128: 64 is `c0 00`, not `40` (which is -64).
    fn sleb(mut n: i64, out: &mut Vec<u8>) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if (n == 0 && b & 0x40 == 0) || (n == -1 && b & 0x40 != 0) {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
        out.push(id);
        leb(body.len() as u64, out);
        out.extend_from_slice(body);
    }
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    if functions > 0 {
        section(1, &[1, 0x60, 1, 0x7f, 1, 0x7f], &mut wasm);
        let mut decls = Vec::new();
        leb(u64::from(functions), &mut decls);
        decls.resize(decls.len() + functions as usize, 0);
        section(3, &decls, &mut wasm);
    }
    let pages = (big as u64 + u64::from(segments)).div_ceil(65536).max(1);
    let mut memory = vec![1, 0];
    leb(pages, &mut memory);
    section(5, &memory, &mut wasm);
    if functions > 0 {
        // local.get 0, i32.const k, i32.add, local.set 0; 200 times; local.get 0.
        let mut body = vec![0];
        for k in 0..200 {
            body.extend_from_slice(&[0x20, 0, 0x41]);
            sleb(k * 7919 % 100_000, &mut body);
            body.extend_from_slice(&[0x6a, 0x21, 0]);
        }
        body.extend_from_slice(&[0x20, 0, 0x0b]);
        let mut code = Vec::new();
        leb(u64::from(functions), &mut code);
        for _ in 0..functions {
            leb(body.len() as u64, &mut code);
            code.extend_from_slice(&body);
        }
        section(10, &code, &mut wasm);
    }
    let mut data = Vec::new();
    leb(u64::from(segments) + u64::from(big > 0), &mut data);
    for i in 0..segments {
        data.extend_from_slice(&[0, 0x41]);
        sleb(i64::from(i), &mut data);
        data.extend_from_slice(&[0x0b, 1, b'x']);
    }
    if big > 0 {
        data.extend_from_slice(&[0, 0x41]);
        sleb(i64::from(segments), &mut data);
        data.push(0x0b);
        leb(big as u64, &mut data);
        data.resize(data.len() + big, 7);
    }
    section(11, &data, &mut wasm);
    wasm
}

/// A program over two static limits of the `default` preset (32 MiB, 30 000 data segments):
/// every limit is named at once, with the module's value, where the limit comes from and the
/// flag or policy line that raises it; `--limit` raises it.
#[test]
fn static_limits_are_listed_at_once_and_raised_from_the_command_line() {
    let dir = scratch("limits");
    let big = dir.join("big.wasm");
    std::fs::write(&big, module_with(30_000, 33 << 20)).unwrap();
    let big = big.to_str().unwrap();
    let out = cage(&["run", "--json", "--no-cache", big]);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["error"], "limit_exceeded");
    let m = v["message"].as_str().unwrap();
    for want in [
        "exceeds 2 static limits",
        "more than limits.max_module_size = 32 MiB (the `default` preset)",
        "--limit max_module_size=34MiB",
        "30001 data segments, more than limits.max_data_segments = 30000",
        "--limit max_data_segments=30001",
    ] {
        assert!(m.contains(want), "{want}: {m}");
    }
    // The text says the same, once.
    let out = cage(&["run", "--no-cache", big]);
    assert_eq!(out.status.code(), Some(65));
    assert!(
        stderr(&out).contains("rejected:limit_exceeded (the module exceeds 2 static limits"),
        "{}",
        stderr(&out)
    );
    // inspect lists both at once.
    let out = cage(&["inspect", "--json", big]);
    assert_eq!(out.status.code(), Some(65));
    let v = json(&out);
    let keys: Vec<&str> = v["limits_exceeded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["max_module_size", "max_data_segments"], "{v}");
    assert_eq!(v["limits_exceeded"][1]["module"], 30_001);
    assert_eq!(v["verdict"]["accepted"], false, "{v}");
    assert_eq!(v["verdict"]["error"], "limit_exceeded", "{v}");
    let inspect_with = |limits: &[&str]| {
        let mut args = vec!["inspect", "--json"];
        for l in limits {
            args.extend(["--limit", l]);
        }
        args.push(big);
        let out = cage(&args);
        let status = out.status.code();
        (status, json(&out))
    };
    // inspect takes --limit as run does: with both raised the module passes, on every runtime.
    let (status, v) = inspect_with(&["max_module_size=64MiB", "max_data_segments=40000"]);
    assert_eq!(status, Some(0), "{v}");
    assert_eq!(v["limits_exceeded"], serde_json::json!([]), "{v}");
    assert_eq!(v["verdict"]["accepted"], true, "{v}");
    for rt in cage::available_runtimes() {
        assert_eq!(v["runtimes"][rt.as_str()]["accepted"], true, "{rt}: {v}");
    }
    // Each --limit raises its own key only: the other is still listed, and named in the verdict.
    for (raised, left, flag) in [
        (
            "max_module_size=64MiB",
            "max_data_segments",
            "--limit max_data_segments=30001",
        ),
        (
            "max_data_segments=40000",
            "max_module_size",
            "--limit max_module_size=34MiB",
        ),
    ] {
        let (status, v) = inspect_with(&[raised]);
        assert_eq!(status, Some(65), "{raised}: {v}");
        let keys: Vec<&str> = v["limits_exceeded"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, [left], "{raised}: {v}");
        let m = v["verdict"]["message"].as_str().unwrap();
        assert!(m.contains(flag), "{raised}: {m}");
        assert!(!m.contains(raised.split('=').next().unwrap()), "{m}");
    }
    // The text form of inspect agrees: accepted with the limits raised.
    let out = cage(&[
        "inspect",
        "--limit",
        "max_module_size=64MiB",
        "--limit",
        "max_data_segments=40000",
        big,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("verdict   accepted"),
        "{}",
        stdout(&out)
    );
    // Raised from the command line, it runs.
    let out = cage(&[
        "run",
        "--json",
        "--no-cache",
        "--limit",
        "max_module_size=64MiB",
        "--limit",
        "max_data_segments=40000",
        big,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(json(&out)["outcome"], "returned");
    // A limit from a policy file is named by its line, and raised there.
    let policy = write(
        &dir,
        "p.toml",
        "# mine\n[limits]\nmax_data_segments = 30000\n",
    );
    let out = cage(&[
        "run",
        "--json",
        "--policy",
        policy.to_str().unwrap(),
        "--limit",
        "max_module_size=64MiB",
        big,
    ]);
    let m = json(&out)["message"].as_str().unwrap().to_owned();
    assert!(m.contains("p.toml line 3"), "{m}");
    assert!(!m.contains("max_module_size"), "{m}");
    // --limit is validated as a policy file is: unknown keys and bad values are usage errors.
    for bad in ["nope=1", "max_memory=lots", "max_stack=1", "fuel"] {
        let out = cage(&["run", "--limit", bad, "examples/fib.wat"]);
        assert_eq!(out.status.code(), Some(64), "{bad}: {}", stderr(&out));
    }
    let out = cage(&["run", "--limit", "nope=1", "examples/fib.wat"]);
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `default` preset admits a program shaped like CPython 3.12 for WASI (26 MB, 24 171 data
/// segments) without a flag, and its second run loads the compiled module from the cache
/// instead of compiling it, on every runtime.
#[test]
fn the_default_preset_runs_a_program_shaped_like_cpython_and_caches_it() {
    let home = scratch("cpython-home");
    let dir = scratch("cpython");
    let module = dir.join("python.wasm");
    // Code that takes Cranelift about a second, so that not compiling shows.
    std::fs::write(&module, module_with_code(24_170, 26_000_000, 80)).unwrap();
    assert!(std::fs::metadata(&module).unwrap().len() > 26_000_000);
    let module = module.to_str().unwrap();
    let run = |json: bool| {
        let mut args = vec!["run", "--runtime", "all"];
        if json {
            args.push("--json");
        }
        args.push(module);
        cage_in(&home, &args)
    };
    let first = run(true);
    assert_eq!(first.status.code(), Some(0), "{}", stdout(&first));
    let first = json(&first);
    let second = run(true);
    assert_eq!(second.status.code(), Some(0), "{}", stdout(&second));
    let second = json(&second);
    for rt in cage::available_runtimes() {
        let (a, b) = (
            &first["runtimes"][rt.as_str()],
            &second["runtimes"][rt.as_str()],
        );
        assert_eq!(
            (&a["outcome"], &b["outcome"]),
            (&"returned".into(), &"returned".into())
        );
        assert_eq!(
            (&a["cache"], &b["cache"]),
            (&"miss".into(), &"hit".into()),
            "{rt}"
        );
    }
    // Loading is not compiling: on Wasmtime, compiling this module takes about a second.
    let compile = |v: &serde_json::Value| v["runtimes"]["wasmtime"]["compile_ms"].as_f64().unwrap();
    assert!(
        compile(&second) < compile(&first) / 2.0,
        "{} ms then {} ms",
        compile(&first),
        compile(&second)
    );
    // The human summary says so too.
    let out = cage_in(&home, &["run", "--runtime", "wasmtime", module]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("wasmtime: returned") && stderr(&out).contains("cache: hit"),
        "{}",
        stderr(&out)
    );
    let _ = std::fs::remove_dir_all(&home);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The cache's size bound evicts the least recently used compiled module: a hit counts as a
/// use, so after a, b, a, c under a bound that holds two entries, b is gone and a stays.
#[test]
fn the_cache_bound_evicts_the_least_recently_used_module() {
    let home = scratch("lru-home");
    let dir = scratch("lru");
    let modules: Vec<String> = (1..=3)
        .map(|n| {
            write(
                &dir,
                &format!("m{n}.wat"),
                &format!("(module (func (export \"f\") (result i32) (i32.const {n})))"),
            )
            .to_str()
            .unwrap()
            .to_owned()
        })
        .collect();
    let run = |m: usize, bound: Option<&str>| -> String {
        let mut args = vec!["run", "--runtime", "wasmtime", "--invoke", "f"];
        if let Some(b) = bound {
            args.extend(["--cache-max", b]);
        }
        args.push(&modules[m]);
        let out = cage_in(&home, &args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stdout(&out).trim(), format!("i32:{}", m + 1));
        let err = stderr(&out);
        if err.contains("cache: hit") {
            "hit".to_owned()
        } else if err.contains("cache: miss") {
            "miss".to_owned()
        } else {
            panic!("no cache word: {err}")
        }
    };
    let info = || json(&cage_in(&home, &["cache", "info", "--json"]));
    assert_eq!(run(0, None), "miss");
    assert_eq!(run(1, None), "miss");
    let two = info()["bytes"].as_u64().unwrap();
    // Room for two entries of this size, not three.
    let bound = (two + two / 4).to_string();
    let bound = Some(bound.as_str());
    assert_eq!(
        run(0, bound),
        "hit",
        "a is used again: now b is the least recent"
    );
    assert_eq!(run(2, bound), "miss");
    let v = info();
    assert_eq!(v["entries"], 2, "{v}");
    assert!(v["bytes"].as_u64().unwrap() <= two + two / 4, "{v}");
    assert_eq!(run(0, bound), "hit", "a stayed");
    assert_eq!(run(2, bound), "hit", "c stayed");
    assert_eq!(run(1, bound), "miss", "b was evicted");
    let _ = std::fs::remove_dir_all(&home);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The compile cache is on by default (in the user's cache directory), the summary says hit or
/// miss, `--no-cache` turns it off, `cage cache info|clear` manage it.
#[test]
fn a_second_run_is_a_cache_hit() {
    let home = scratch("cache-home");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--runtime", "wasmtime", "--invoke", "fib"];
        args.extend_from_slice(extra);
        args.extend(["examples/fib.wat", "--", "10"]);
        cage_in(&home, &args)
    };
    let first = run(&[]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(stderr(&first).contains("cache: miss"), "{}", stderr(&first));
    let second = run(&[]);
    assert!(
        stderr(&second).contains("cache: hit"),
        "{}",
        stderr(&second)
    );
    assert_eq!(stdout(&first), stdout(&second));
    assert!(home.join("cache/cage").is_dir());
    assert!(home.join("config/cage/cache.key").is_file());
    let none = run(&["--no-cache"]);
    assert!(!stderr(&none).contains("cache:"), "{}", stderr(&none));
    // info and clear.
    let out = cage_in(&home, &["cache", "info", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["entries"], 1, "{v}");
    assert!(v["dir"].as_str().unwrap().ends_with("cache/cage"));
    let out = cage_in(&home, &["cache", "clear"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("removed 1 compiled module"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        json(&cage_in(&home, &["cache", "info", "--json"]))["entries"],
        0
    );
    assert!(stderr(&run(&[])).contains("cache: miss"));
    // A bound: a cache of 1 byte keeps only the newest entry.
    let other = run(&["--cache-max", "1"]);
    assert!(stderr(&other).contains("cache: hit"), "{}", stderr(&other));
    let fuel = cage_in(
        &home,
        &[
            "run",
            "--runtime",
            "wasmtime",
            "--fuel",
            "100000",
            "--cache-max",
            "1",
            "--invoke",
            "fib",
            "examples/fib.wat",
            "--",
            "10",
        ],
    );
    assert!(stderr(&fuel).contains("cache: miss"), "{}", stderr(&fuel));
    assert_eq!(
        json(&cage_in(&home, &["cache", "info", "--json"]))["entries"],
        1
    );
    // Without any cache directory the run goes on, uncached.
    let out = Command::new(env!("CARGO_BIN_EXE_cage"))
        .args(["run", "--invoke", "fib", "examples/fib.wat", "--", "10"])
        .current_dir(root())
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("HOME")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("without the compile cache"),
        "{}",
        stderr(&out)
    );
}

/// The keys of the report, in order, from the table of docs/report.md.
fn report_keys() -> Vec<String> {
    let doc = std::fs::read_to_string(root().join("docs/report.md")).unwrap();
    let mut keys = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cell = line.split('|').nth(1).unwrap();
        keys.extend(
            cell.split(',')
                .map(|k| k.trim().trim_matches('`').to_owned()),
        );
    }
    assert!(keys.len() > 15, "{keys:?}");
    keys
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// One exit status and one word for a file that cannot be read or written, whichever it is and
/// whichever subcommand names it; the JSON error object carries every key of the report.
#[test]
fn every_missing_file_is_one_kind_of_failure() {
    let dir = scratch("missing");
    let custom = write(
        &dir,
        "custom.wat",
        r#"(module (import "env" "x" (func)) (func (export "_start") (call 0)))"#,
    );
    let custom = custom.to_str().unwrap();
    let exists = write(&dir, "exists.toml", "");
    let exists = exists.to_str().unwrap();
    // Each with the same first word on stderr and, where --json prints an error object, in it.
    let rows: [&[&str]; 6] = [
        &["run", "no/such.wasm"],
        &["run", "--stdin", "no/such.txt", "examples/hello-wasi.wat"],
        &["run", "--policy", "no/such.toml", "examples/fib.wat"],
        &["run", "--dir", "no/such::/d", "examples/hello-wasi.wat"],
        &["run", "--dir-ro", "no/such::.", "examples/hello-wasi.wat"],
        &["inspect", "no/such.wasm"],
    ];
    for args in rows {
        let text = cage(args);
        assert_eq!(text.status.code(), Some(66), "{args:?}: {}", stderr(&text));
        assert!(
            stderr(&text).starts_with("cage: filesystem: "),
            "{args:?}: {}",
            stderr(&text)
        );
        let mut with_json = args.to_vec();
        with_json.insert(1, "--json");
        let out = cage(&with_json);
        assert_eq!(out.status.code(), Some(66), "{with_json:?}");
        let v = json(&out);
        assert_eq!(v["error"], "filesystem", "{v}");
        assert_eq!(v["outcome"], "error");
        assert_eq!(
            keys(&v),
            report_keys(),
            "{with_json:?}: every key of the report, in order"
        );
    }
    let no_such_out = dir.join("no/such/out");
    let no_such_out = no_such_out.to_str().unwrap();
    let others: [&[&str]; 17] = [
        &["profile", "no/such.wasm"],
        &["profile", "--inputs", "no/such.jsonl", "examples/fib.wat"],
        &[
            "profile",
            "--stdin",
            "no/such.txt",
            "examples/hello-wasi.wat",
        ],
        &["profile", "--dir", "no/such::/d", "examples/hello-wasi.wat"],
        &["conformance", "no/such.wat"],
        &[
            "conformance",
            "--policy",
            "no/such.toml",
            "examples/fib.wat",
        ],
        &["policy", "explain", "no/such.toml"],
        &["policy", "audit", "no/such.toml"],
        &["policy", "audit", "--profile", "no/such.json"],
        &["policy", "init", "--out", exists],
        &["bench", "no/such.wasm"],
        &["bench", "--suite", "no/such"],
        &[
            "bench",
            "--policy",
            "no/such.toml",
            "examples/hello-wasi.wat",
        ],
        &["bench", "--stdin", "no/such.txt", "examples/hello-wasi.wat"],
        &["bench", "--dir", "no/such::/d", "examples/hello-wasi.wat"],
        &[
            "bench",
            "--quick",
            "--config",
            "plain",
            "--phase",
            "execute",
            "--runtime",
            "wasmtime",
            "--json",
            no_such_out,
            "examples/hello-wasi.wat",
        ],
        &[
            "profile",
            "--runs",
            "1",
            "--runtime",
            "wasmtime",
            "--write-policy",
            no_such_out,
            "--invoke",
            "fib",
            "examples/fib.wat",
            "--",
            "3",
        ],
    ];
    for args in others {
        let out = cage(args);
        assert_eq!(out.status.code(), Some(66), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("cage: filesystem: "),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // The other kinds keep their words and statuses in every subcommand.
    for (args, code, word) in [
        (
            &["run", "--runtime", "nope", "examples/fib.wat"][..],
            78,
            "config",
        ),
        (
            &["bench", "--preset", "nope", "examples/hello-wasi.wat"],
            78,
            "config",
        ),
        (&["bench", "--stub", "env::*", custom], 64, "usage"),
        (
            &["profile", "--headroom", "0.5", "examples/fib.wat"],
            64,
            "usage",
        ),
        (
            &["conformance", "--stub", "a::b", "conformance/cases/fuel"],
            64,
            "usage",
        ),
    ] {
        let out = cage(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("cage: {word}: ")),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // A report, with the compile cache (on by default) and without, has the documented keys;
    // the error object has all of them, as do the error objects of inspect and conformance.
    let fib = ["--invoke", "fib", "examples/fib.wat", "--", "1"];
    let report = json(&cage(&[&["run", "--json"][..], &fib].concat()));
    assert_eq!(keys(&report), report_keys(), "{report}");
    let uncached = json(&cage(
        &[&["run", "--json", "--no-cache"][..], &fib].concat(),
    ));
    let mut without_cache = report_keys();
    without_cache.retain(|k| k != "cache");
    assert_eq!(keys(&uncached), without_cache);
    for args in [
        &[
            "inspect",
            "--json",
            "--policy",
            "no/such.toml",
            "examples/fib.wat",
        ][..],
        &[
            "conformance",
            "--json",
            "--policy",
            "no/such.toml",
            "examples/fib.wat",
        ],
        &["run", "--json", "--limit", "nope=1", "examples/fib.wat"],
    ] {
        let v = json(&cage(args));
        assert_eq!(keys(&v), report_keys(), "{args:?}");
    }
    // The tables say so.
    let docs = std::fs::read_to_string(root().join("docs/cli.md")).unwrap();
    let row = docs.lines().find(|l| l.starts_with("| 66 |")).unwrap();
    for flag in [
        "the module",
        "`--policy`",
        "`--stdin`",
        "`--dir`",
        "`\"error\": \"filesystem\"`",
    ] {
        assert!(row.contains(flag), "{flag}: {row}");
    }
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.contains("66 a file or directory that cannot be read, whichever it is"),
        "the README's summary of the exit statuses"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A closed stdout never panics a subcommand: a pipe whose reader has gone ends it quietly
/// with 141, as for any program killed by SIGPIPE. Every subcommand that prints on stdout.
#[test]
fn a_closed_pipe_ends_every_subcommand_quietly() {
    let home = scratch("pipe-home");
    let empty_cache = home.join("empty");
    let empty_cache = empty_cache.to_str().unwrap();
    let fib: &[&str] = &["--invoke", "fib", "examples/fib.wat", "--", "5"];
    let commands: Vec<Vec<&str>> = vec![
        [&["run"][..], fib].concat(),
        [&["run", "--json"][..], fib].concat(),
        [&["run", "--runtime", "all"][..], fib].concat(),
        vec!["run", "--json", "no/such.wasm"],
        vec!["inspect", "examples/fib.wat"],
        vec!["inspect", "--json", "examples/fib.wat"],
        vec!["bench", "--list"],
        vec![
            "bench",
            "--quick",
            "--filter",
            "compile/small",
            "--runtime",
            "wasmtime",
        ],
        vec![
            "bench",
            "--quick",
            "--config",
            "plain",
            "--phase",
            "execute",
            "--runtime",
            "wasmtime",
            "examples/hello-wasi.wat",
        ],
        vec!["conformance", "--filter", "fuel/completes_exactly"],
        vec![
            "conformance",
            "--json",
            "--filter",
            "fuel/completes_exactly",
        ],
        [&["conformance"][..], fib].concat(),
        vec!["conformance", "--spec", "--filter", "address"],
        vec![
            "conformance",
            "--wasi-testsuite",
            "--filter",
            "close_preopen",
        ],
        vec!["fuzz", "--count", "1", "--seed", "1"],
        vec!["policy", "init"],
        vec!["policy", "explain"],
        vec!["policy", "audit"],
        [
            &["profile", "--runs", "1", "--runtime", "wasmtime"][..],
            fib,
        ]
        .concat(),
        vec!["calibrate", "--runtime", "wasmtime", "--samples", "1"],
        vec!["cache", "info"],
        vec!["cache", "clear", "--cache", empty_cache],
    ];
    for args in commands {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_cage"))
            .args(&args)
            .current_dir(root())
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&home);
}

/// `policy init` and `explain` show only what applies to core modules, one description per
/// key; a value a file sets is the file's even when it equals the preset's.
#[test]
fn policy_init_and_explain_show_what_applies() {
    let text = stdout(&cage(&["policy", "init"]));
    assert!(
        !text.contains("cm_") && !text.contains("component_model"),
        "{text}"
    );
    let feature_lines: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "[features]")
        .take_while(|l| !l.starts_with("[wasi"))
        .collect();
    let comments: Vec<&str> = feature_lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("# "))
        .collect();
    let keys = feature_lines.iter().filter(|l| l.contains(" = ")).count();
    assert!(keys > 20, "{text}");
    let mut unique = comments.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        comments.len(),
        "one description per key: {comments:?}"
    );
    assert_eq!(comments.len(), keys, "{feature_lines:?}");
    // Descriptions that start with an instruction keep its spelling; one blank line between
    // sections.
    assert!(text.contains("# memory.copy/fill/init"), "{text}");
    assert!(!text.contains("\n\n\n"), "{text}");
    assert_eq!(
        cage::Policy::from_toml(&text).unwrap(),
        cage::Policy::default()
    );

    let dir = scratch("explain");
    let file = write(&dir, "same.toml", "[limits]\nmax_memory = \"64 MiB\"\n");
    let v = json(&cage(&[
        "policy",
        "explain",
        file.to_str().unwrap(),
        "--json",
    ]));
    let rows = v["keys"].as_array().unwrap();
    assert!(
        rows.iter()
            .all(|r| !r["key"].as_str().unwrap().contains(".cm_")),
        "{v}"
    );
    let row = rows
        .iter()
        .find(|r| r["key"] == "limits.max_memory")
        .unwrap();
    assert_eq!(row["source"], "file", "{row}");
    let simd = rows.iter().find(|r| r["key"] == "features.simd").unwrap();
    assert!(simd["meaning"].as_str().unwrap().contains("v128"), "{simd}");
    let v = json(&cage(&[
        "policy",
        "explain",
        "--limit",
        "max_locals=5",
        "--json",
    ]));
    let row = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "limits.max_locals")
        .cloned()
        .unwrap();
    assert_eq!(
        (row["source"].as_str(), row["value"].as_u64()),
        (Some("flag"), Some(5))
    );
    // The text is a table: the source column starts at the same place on every line, however
    // long the key (features.shared_everything_threads).
    let text = stdout(&cage(&["policy", "explain"]));
    let columns: std::collections::BTreeSet<usize> =
        text.lines().map(|l| l.find(" preset ").unwrap()).collect();
    assert_eq!(columns.len(), 1, "{text}");
}

/// Guest paths are absolute or `.`, as the docs say; anything else is refused naming the rule.
#[test]
fn guest_paths_follow_the_written_rule() {
    let out = cage(&["run", "--dir-ro", "examples::.", "examples/hello-wasi.wat"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = cage(&[
        "run",
        "--dir-ro",
        "examples::data",
        "examples/hello-wasi.wat",
    ]);
    assert_eq!(out.status.code(), Some(78));
    assert!(
        stderr(&out).contains("must be absolute (e.g. \"/data\") or \".\""),
        "{}",
        stderr(&out)
    );
}

/// Fuel is exact up to `i64::MAX` on every runtime and refused above it, on every runtime
/// alike, before anything runs (Wasmer's metering counts in a signed 64-bit global).
#[test]
fn fuel_budgets_are_exact_up_to_i64_max_and_refused_above() {
    let fib = ["--invoke", "fib", "examples/fib.wat", "--", "10"];
    let out = cage(
        &[
            &[
                "run",
                "--runtime",
                "all",
                "--json",
                "--fuel",
                "9223372036854775807",
            ][..],
            &fib,
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let v = json(&out);
    assert_eq!(v["agree"], true, "{v}");
    let runtimes = cage::available_runtimes();
    let fuel = &v["runtimes"][runtimes[0].as_str()]["fuel_consumed"];
    assert!(fuel.as_u64().is_some_and(|f| f > 1000 && f < 10_000), "{v}");
    for rt in &runtimes {
        assert_eq!(&v["runtimes"][rt.as_str()]["fuel_consumed"], fuel, "{rt}");
    }
    // The same count as under a small budget: a budget's size changes nothing it measures.
    let small = json(&cage(
        &[&["run", "--json", "--fuel", "100000"][..], &fib].concat(),
    ));
    assert_eq!(&small["fuel_consumed"], fuel);
    for budget in ["9223372036854775808", "18446744073709551615"] {
        for runtime in ["all", "wasmtime", "wasmer-cranelift"] {
            let out = cage(
                &[
                    &["run", "--runtime", runtime, "--json", "--fuel", budget][..],
                    &fib,
                ]
                .concat(),
            );
            assert_eq!(out.status.code(), Some(78), "{budget} on {runtime}");
            let v = json(&out);
            assert_eq!(v["error"], "config", "{v}");
            assert!(
                v["message"]
                    .as_str()
                    .unwrap()
                    .contains("9223372036854775807"),
                "{v}"
            );
        }
    }
}

/// Sizes: `KB`, `MB` are powers of 1000, `KiB`, `MiB` powers of 1024, as docs/cli.md says, in
/// flags and `--limit` alike.
#[test]
fn sizes_read_kb_as_1000_and_kib_as_1024() {
    let value = |args: &[&str], key: &str| -> serde_json::Value {
        let v = json(&cage(
            &[&["policy", "explain", "--json"][..], args].concat(),
        ));
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(
        value(&["--max-memory", "64 MB"], "limits.max_memory"),
        "62500 KiB"
    );
    assert_eq!(
        value(&["--max-memory", "64MiB"], "limits.max_memory"),
        "64 MiB"
    );
    assert_eq!(
        value(&["--max-memory", "64 mib"], "limits.max_memory"),
        "64 MiB"
    );
    assert_eq!(
        value(&["--limit", "max_stack=64KB"], "limits.max_stack"),
        "64000 B"
    );
    assert_eq!(
        value(&["--limit", "max_stack=64KiB"], "limits.max_stack"),
        "64 KiB"
    );
    let docs = std::fs::read_to_string(root().join("docs/cli.md")).unwrap();
    assert!(docs.contains("(1 KiB = 1024 bytes)") && docs.contains("(1 KB = 1000 bytes"));
}
