//! The `cage` command line as a contract: flags, the JSON report, exit statuses, and the
//! commands the README shows.
//!
//! Why one file over 800 lines: one test binary for the CLI contract keeps one build of the
//! test harness; each test stands alone.

use std::path::Path;
use std::process::{Command, Output};

/// The repository root: the README's commands run from there.
fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The user directories the tests' `cage` sees: its default compile cache and cache key live
/// here, not in the home directory of whoever runs the tests.
fn test_home() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("cage-cli-home-{}", std::process::id()))
}

/// A `cage` command with the tests' user directories.
fn cage_command() -> Command {
    let home = test_home();
    let mut c = Command::new(env!("CARGO_BIN_EXE_cage"));
    c.current_dir(root())
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_CONFIG_HOME", home.join("config"));
    c
}

fn cage(args: &[&str]) -> Output {
    cage_command().args(args).output().expect("cannot run cage")
}

fn json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().count(),
        1,
        "exactly one JSON line on stdout: {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn tmp(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cage-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn json_report_has_the_contract_keys_in_order() {
    let out = cage(&[
        "run",
        "--runtime",
        "wasmtime",
        "--fuel",
        "100000",
        "--json",
        "--invoke",
        "spin",
        "examples/spin.wat",
    ]);
    assert_eq!(out.status.code(), Some(70), "trapped exits 70");
    let v = json(&out);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let contract = [
        "runtime",
        "outcome",
        "values",
        "exit_code",
        "trap",
        "error",
        "message",
        "fuel_consumed",
        "wall_ms",
        "peak_memory_bytes",
        "stdout",
        "stderr",
    ];
    assert_eq!(&keys[..contract.len()], contract);
    assert_eq!(v["runtime"], "wasmtime");
    assert_eq!(v["outcome"], "trapped");
    assert_eq!(v["trap"], "out_of_fuel");
    assert_eq!(v["error"], serde_json::Value::Null);
    assert_eq!(v["fuel_consumed"], 100000);
    assert!(v["wall_ms"].is_number());
}

#[test]
fn invoke_parses_arguments_by_signature() {
    let out = cage(&[
        "run",
        "--json",
        "--invoke",
        "fib",
        "examples/fib.wat",
        "--",
        "20",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["outcome"], "returned");
    assert_eq!(v["values"], serde_json::json!(["i64:6765"]));
    let out = cage(&["run", "--invoke", "fib", "examples/fib.wat", "--", "20"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "i64:6765");
}

#[test]
fn bad_arguments_are_usage_errors_or_rejections() {
    let out = cage(&["run", "--invoke", "fib", "examples/fib.wat", "--", "twenty"]);
    assert_eq!(
        out.status.code(),
        Some(64),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cage(&[
        "run",
        "--json",
        "--invoke",
        "fib",
        "examples/fib.wat",
        "--",
        "1",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(64), "a usage error in both modes");
    assert_eq!(json(&out)["error"], "usage");
    let out = cage(&["run", "--json", "--invoke", "nope", "examples/fib.wat"]);
    assert_eq!(out.status.code(), Some(65));
    assert_eq!(json(&out)["error"], "invalid_invocation");
    assert_eq!(
        cage(&["run", "--fuel", "lots", "examples/fib.wat"])
            .status
            .code(),
        Some(64)
    );
    assert_eq!(cage(&["frobnicate"]).status.code(), Some(64));
    assert_eq!(cage(&["--help"]).status.code(), Some(0));
}

#[test]
fn missing_and_hostile_module_files() {
    let out = cage(&["run", "--json", "no/such/file.wasm"]);
    assert_eq!(out.status.code(), Some(66), "a file that cannot be read");
    assert_eq!(json(&out)["outcome"], "error");
    assert_eq!(json(&out)["error"], "filesystem");
    let p = tmp("garbage.wasm", "\0asm\x01\0\0\0\x01\x7f");
    let out = cage(&["run", "--json", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(65));
    assert_eq!(json(&out)["error"], "invalid_module");
    let p = tmp("bad.wat", "(module (func (i32.add)))");
    assert_eq!(
        json(&cage(&["run", "--json", p.to_str().unwrap()]))["error"],
        "invalid_module"
    );
}

#[test]
fn runtimes_that_are_unknown_or_not_compiled_in() {
    let out = cage(&["run", "--runtime", "v8", "examples/fib.wat"]);
    assert_eq!(out.status.code(), Some(78));
    if !cage_compiled_in("wasmer-singlepass") {
        let out = cage(&["run", "--runtime", "wasmer-singlepass", "examples/fib.wat"]);
        assert_eq!(out.status.code(), Some(78));
        assert!(String::from_utf8_lossy(&out.stderr).contains("feature `wasmer`"));
    }
}

#[test]
fn policy_file_and_flags() {
    let p = tmp("p.toml", "[limits]\nfuel = 500\nmax_memory = \"1 MiB\"\n");
    let out = cage(&[
        "run",
        "--json",
        "--policy",
        p.to_str().unwrap(),
        "--invoke",
        "spin",
        "examples/spin.wat",
    ]);
    assert_eq!(json(&out)["fuel_consumed"], 500);
    let out = cage(&[
        "run",
        "--json",
        "--policy",
        p.to_str().unwrap(),
        "--fuel",
        "700",
        "--invoke",
        "spin",
        "examples/spin.wat",
    ]);
    assert_eq!(json(&out)["fuel_consumed"], 700, "flags override the file");
    let out = cage(&[
        "run",
        "--json",
        "--timeout",
        "50ms",
        "--invoke",
        "spin",
        "examples/spin.wat",
    ]);
    assert_eq!(json(&out)["trap"], "timeout");
    let bad = tmp("bad.toml", "[limits]\nfuel_budget = 5\n");
    let out = cage(&["run", "--policy", bad.to_str().unwrap(), "examples/fib.wat"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fuel_budget"));
    let out = cage(&["run", "--preset", "lax", "examples/fib.wat"]);
    assert_eq!(out.status.code(), Some(78));
    let out = cage(&[
        "run",
        "--json",
        "--preset",
        "strict",
        "--invoke",
        "spin",
        "examples/spin.wat",
    ]);
    assert_eq!(json(&out)["trap"], "out_of_fuel", "strict has fuel");
}

#[test]
fn inspect_shows_the_module_and_the_verdict() {
    let out = cage(&["inspect", "--json", "examples/fib.wat"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["verdict"]["accepted"], true);
    assert_eq!(v["info"]["exports"][0]["name"], "fib");
    assert_eq!(v["info"]["exports"][0]["type"], "(i64) -> (i64)");
    let p = tmp("big.wat", "(module (memory 2000))");
    let out = cage(&["inspect", "--json", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(65));
    let v = json(&out);
    assert_eq!(v["verdict"]["error"], "limit_exceeded");
    assert_eq!(v["info"]["memories"][0]["initial_bytes"], 2000u64 * 65536);
}

/// Splits a command line as a shell would for the documentation's commands: words, with `'…'`
/// and `"…"` quoting.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// Runs every `$ cage …` line of the console blocks of `doc` (relative to the repository root);
/// where the next line is a JSON report, its outcome, trap, error and values must match; where
/// the output shown has an `agree:` verdict, the command must give the same one. Returns how
/// many commands ran.
fn run_doc_commands(doc: &str) -> usize {
    let text = std::fs::read_to_string(root().join(doc)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut ran = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(cmd) = line.strip_prefix("$ cage ") else {
            continue;
        };
        let args = shell_words(cmd);
        let out = cage(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let code = out.status.code();
        assert!(
            !matches!(code, Some(64 | 66 | 78) | None),
            "{doc}: `cage {cmd}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(next) = lines.get(i + 1).filter(|l| l.starts_with('{')) {
            let want: serde_json::Value = serde_json::from_str(next).unwrap();
            let got = json(&out);
            for k in ["outcome", "trap", "error", "values", "exit_code"] {
                assert_eq!(got[k], want[k], "{doc}: `cage {cmd}`: {k}");
            }
        }
        let shown = lines[i + 1..]
            .iter()
            .take_while(|l| !l.starts_with("$ ") && !l.starts_with("```"));
        for verdict in shown.filter_map(|l| l.strip_prefix("agree: ")) {
            let word = verdict.split(':').next().unwrap();
            let got = String::from_utf8_lossy(&out.stdout);
            assert!(
                got.contains(&format!("agree: {word}")),
                "{doc}: `cage {cmd}`: {got}"
            );
        }
        ran += 1;
    }
    ran
}

/// Runs every `$ cage …` line of the README's and docs/cli.md's console blocks.
#[test]
fn readme_commands_work() {
    assert_eq!(
        shell_words(r#"run --stub 'bench::*' "a b" c"#),
        ["run", "--stub", "bench::*", "a b", "c"]
    );
    let ran = run_doc_commands("README.md");
    assert!(
        ran >= 3,
        "the README shows at least three commands, found {ran}"
    );
    let ran = run_doc_commands("docs/cli.md");
    assert!(ran >= 2, "docs/cli.md shows its examples, found {ran}");
}

/// The README says how to get the `cage` command and which Rust it needs before anything else
/// (before the first command of its set-up), with the workspace's own `rust-version`.
#[test]
fn readme_says_how_to_install_first() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    let setup = readme.find("## Set-up").expect("a Set-up section");
    let install = readme.find("cargo install --path cli").unwrap();
    let rust = readme.find(&format!("Rust {version}**")).unwrap();
    let first_other = readme.find("cargo run --release").unwrap();
    assert!(setup < rust && rust < install && install < first_other);
    assert!(
        readme[..setup].matches("\n## ").count() == 0,
        "Set-up is the first section"
    );
}

/// Whether the binary under test has the runtime (the test binary shares the package features).
fn cage_compiled_in(name: &str) -> bool {
    cage::available_runtimes()
        .iter()
        .any(|r| r.as_str() == name)
}

#[test]
fn wasi_commands_get_args_stdio_and_directories() {
    let out = cage(&[
        "run",
        "--runtime",
        "wasmtime",
        "--json",
        "examples/hello-wasi.wat",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["outcome"], "exited");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["stdout"], "hello from wasi\n");

    // The same preopen on every runtime: the guest's fd 3 is the granted directory.
    for rt in cage::available_runtimes().iter().map(|r| r.as_str()) {
        let dir = std::env::temp_dir().join(format!("cage-cli-dir-{rt}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = format!("{}::/data", dir.display());
        let out = cage(&[
            "run",
            "--runtime",
            rt,
            "--json",
            "--dir-ro",
            &spec,
            "examples/create-file.wat",
        ]);
        assert_eq!(
            json(&out)["exit_code"],
            63,
            "{rt}: EPERM in a read-only directory"
        );
        assert!(!dir.join("out.txt").exists(), "{rt}: nothing was created");
        let out = cage(&[
            "run",
            "--runtime",
            rt,
            "--json",
            "--dir",
            &spec,
            "examples/create-file.wat",
        ]);
        assert_eq!(json(&out)["exit_code"], 0, "{rt}");
        assert!(
            dir.join("out.txt").exists(),
            "{rt}: created in the read-write directory"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    let out = cage(&[
        "run",
        "--json",
        "--dir",
        "no-separator",
        "examples/hello-wasi.wat",
    ]);
    assert_eq!(out.status.code(), Some(64));
    let out = cage(&[
        "run",
        "--runtime",
        "wasmtime",
        "--json",
        "--dir",
        "/no/such/dir::/x",
        "examples/hello-wasi.wat",
    ]);
    assert_eq!(
        out.status.code(),
        Some(66),
        "a directory that does not exist is a missing file, as a missing module is"
    );
}

/// Tests `cage conformance`: the built-in corpus (embedded) passes with one JSON object in the
/// documented shape; a wrong case and a broken case file fail with status 1; an unknown runtime
/// is status 78.
#[test]
fn conformance_command_contract() {
    let out = cage(&["conformance", "--filter", "fuel/", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json(&out);
    let keys: Vec<&String> = j.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["runtimes", "cases", "summary"]);
    let cases = j["summary"]["cases"].as_u64().unwrap();
    assert!(cases >= 10, "{j}");
    assert_eq!(j["summary"]["passed"].as_u64(), Some(cases));
    assert_eq!(j["summary"]["failed"].as_u64(), Some(0));
    let first = &j["cases"][0];
    for k in ["case", "expect", "results", "pass", "identical"] {
        assert!(first.get(k).is_some(), "case key {k} missing: {first}");
    }
    for rt in j["runtimes"].as_array().unwrap() {
        let report = &first["results"][rt.as_str().unwrap()];
        assert!(report["outcome"].is_string(), "{report}");
    }

    let wrong = tmp(
        "wrong.wat",
        ";;! [case]\n;;! invoke = \"f\"\n;;! expect = \"returned:i32:2\"\n(module (func (export \"f\") (result i32) i32.const 1))\n",
    );
    let broken = wrong.with_file_name("broken.wat");
    std::fs::write(&broken, ";;! [case\n(module)\n").unwrap();
    let out = cage(&[
        "conformance",
        "--json",
        wrong.parent().unwrap().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let j = json(&out);
    assert_eq!(
        j["summary"]["failed"].as_u64(),
        j["summary"]["cases"].as_u64()
    );
    assert!(
        j["cases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["error"].is_string()),
        "the broken file is a failed case: {j}"
    );

    let out = cage(&["conformance", "--runtime", "no-such-runtime"]);
    assert_eq!(out.status.code(), Some(78));
}

/// Tests `cage conformance --wasi-testsuite`: the embedded official suite, its pass rate per
/// runtime in the JSON, and a directory that is not a testsuite.
#[test]
fn wasi_testsuite_command_reports_pass_rates() {
    let out = cage(&[
        "conformance",
        "--wasi-testsuite",
        "--filter",
        "assemblyscript/",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["summary"]["cases"], 12);
    assert_eq!(v["summary"]["unexpected"], 0);
    for rt in cage::available_runtimes().iter().map(|r| r.as_str()) {
        assert_eq!(v["pass_rate"][rt]["passed"], 12, "{rt}");
        assert_eq!(v["pass_rate"][rt]["pass_rate"], 100.0, "{rt}");
    }
    let out = cage(&["conformance", "--wasi-testsuite", "no/such/dir"]);
    assert_eq!(out.status.code(), Some(64));
}

/// Tests `cage conformance --spec` on a few files and `cage fuzz` on a few seeds.
#[test]
fn spec_and_fuzz_commands_report() {
    let out = cage(&["conformance", "--spec", "--filter", "i32", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json(&out);
    for (rt, r) in j["runtimes"].as_object().unwrap() {
        assert!(r["passed"].as_u64().unwrap() > 100, "{rt}: {r}");
        assert_eq!(r["failed"].as_u64(), Some(0), "{rt}: {r}");
    }

    let dir = std::env::temp_dir().join(format!("cage-fuzz-{}", std::process::id()));
    let out = cage(&[
        "fuzz",
        "--seed",
        "7",
        "--count",
        "4",
        "--json",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let j = json(&out);
    assert_eq!(j["seeds"].as_u64(), Some(4));
    assert_eq!(j["modules"].as_u64(), Some(4));
    assert_eq!(j["divergences"].as_array().map(Vec::len), Some(0));
}

#[test]
fn run_with_a_disk_cache_hits_and_refuses_what_it_cannot_trust() {
    let base = std::env::temp_dir().join(format!("cage-cli-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let dir = base.join("cache");
    let key = base.join("keys").join("cache.key");
    let (dir_s, key_s) = (dir.to_str().unwrap(), key.to_str().unwrap());
    let module = root().join("examples/fib.wat");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--runtime",
            "wasmtime",
            "--fuel",
            "10000000",
            "--json",
            "--cache",
            dir_s,
            "--cache-key",
            key_s,
            "--invoke",
            "fib",
        ];
        args.extend_from_slice(extra);
        args.push(module.to_str().unwrap());
        args.extend_from_slice(&["--", "20"]);
        cage(&args)
    };
    let first = json(&run(&[]));
    assert_eq!(first["cache"], "miss", "{first}");
    let second = json(&run(&[]));
    assert_eq!(second["cache"], "hit", "{second}");
    for k in ["values", "fuel_consumed", "outcome"] {
        assert_eq!(first[k], second[k], "{k}");
    }
    // A tampered entry is refused, the module compiled again, the run the same.
    let entry = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&entry).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&entry, &bytes).unwrap();
    let third = json(&run(&[]));
    assert_eq!(third["cache"], "rejected", "{third}");
    assert_eq!(first["values"], third["values"]);
    assert_eq!(json(&run(&[]))["cache"], "hit");
    // With --no-cache there is no `cache` key.
    let plain = json(&cage(&[
        "run",
        "--runtime",
        "wasmtime",
        "--no-cache",
        "--json",
        "--invoke",
        "fib",
        module.to_str().unwrap(),
        "--",
        "20",
    ]));
    assert!(plain.get("cache").is_none(), "{plain}");
    // A cache directory others can reach, and a key inside the cache, are configuration errors.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let out = run(&[]);
        assert_eq!(
            out.status.code(),
            Some(78),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let inside = dir.join("cache.key");
    let out = cage(&[
        "run",
        "--runtime",
        "wasmtime",
        "--cache",
        dir_s,
        "--cache-key",
        inside.to_str().unwrap(),
        "--invoke",
        "fib",
        module.to_str().unwrap(),
        "--",
        "20",
    ]);
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must not be inside"));
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn bench_writes_no_escape_codes_to_a_log() {
    let out = cage(&[
        "bench",
        "--quick",
        "--runtime",
        "wasmtime",
        "--filter",
        "call/trivial-typed/plain",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains('\x1b') && !err.contains('\r'), "{err:?}");
    assert!(err.contains("cases in"), "{err:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("call/trivial-typed/plain"));
}

/// The case files of the corpus (`.wat` and `.wasm` with a `.toml` sidecar or `;;!` header).
fn corpus_modules() -> Vec<std::path::PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "wat" || x == "wasm") {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(&root().join("conformance/cases"), &mut v);
    v.sort();
    v
}

/// The policy part of a case's header (`;;!` lines or a `.toml` sidecar), as a policy file:
/// everything but the `[case]` table.
fn case_policy(module: &Path) -> String {
    let header = match std::fs::read_to_string(module.with_extension("toml")) {
        Ok(t) => t,
        Err(_) => std::fs::read_to_string(module)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix(";;! "))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let mut out = String::new();
    let mut in_case = false;
    for line in header.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_case = t == "[case]";
        }
        if !in_case {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn inspect_gives_the_verdict_run_gives_over_the_corpus() {
    let dir = std::env::temp_dir().join(format!("cage-cli-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut compared = 0;
    for module in corpus_modules() {
        let text = case_policy(&module);
        // Cases with preopened directories write to them: the case runner gives them copies;
        // here they are left out rather than run on the repository's fixtures.
        if text.contains("[[wasi.dirs]]") {
            continue;
        }
        let policy = dir.join("policy.toml");
        std::fs::write(&policy, text).unwrap();
        let (m, p) = (module.to_str().unwrap(), policy.to_str().unwrap());
        let inspect = cage(&["inspect", "--json", "--policy", p, m]);
        let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&inspect.stdout) else {
            panic!(
                "{m}: inspect printed no JSON: {}",
                String::from_utf8_lossy(&inspect.stderr)
            );
        };
        if doc["outcome"] == "error" {
            // A policy the CLI refuses on its own, without the case runner's set-up.
            continue;
        }
        let run = cage(&["run", "--runtime", "wasmtime", "--json", "--policy", p, m]);
        let report = json(&run);
        if report["outcome"] == "error" {
            continue;
        }
        let verdict = &doc["runtimes"]["wasmtime"];
        let rejected = report["outcome"] == "rejected";
        assert_eq!(
            verdict["accepted"].as_bool(),
            Some(!rejected),
            "{m}: inspect {verdict}, run {report}"
        );
        if rejected {
            assert_eq!(verdict["error"], report["error"], "{m}");
        }
        compared += 1;
    }
    assert!(compared > 100, "only {compared} cases compared");
}

/// Runs `cage` with `stdin` piped in.
fn cage_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cage_command()
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cannot run cage");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn exit_statuses_and_json_agree_in_both_modes() {
    let not_wasm = tmp("elf.wasm", "\u{7f}ELF and then some");
    let not_wasm = not_wasm.to_str().unwrap();
    // (arguments, exit status, the JSON `outcome` and `error`)
    let rows: [(&[&str], i32, &str, &str); 8] = [
        (&["run", "nosuch.wasm"], 66, "error", "filesystem"),
        (
            &["run", "--invoke", "fib", "examples/fib.wat", "--", "1", "2"],
            64,
            "error",
            "usage",
        ),
        (
            &["run", "--fuel", "-5", "examples/fib.wat"],
            64,
            "error",
            "usage",
        ),
        (
            &["run", "--max-memory", "-1", "examples/fib.wat"],
            64,
            "error",
            "usage",
        ),
        (
            &["run", "--preset", "nosuch", "examples/fib.wat"],
            78,
            "error",
            "config",
        ),
        (
            &["run", "--runtime", "nosuch", "examples/fib.wat"],
            78,
            "error",
            "config",
        ),
        (
            &["run", "examples/fib.wat", "--", "1"],
            64,
            "error",
            "usage",
        ),
        (&["run", not_wasm], 65, "rejected", "invalid_module"),
    ];
    for (args, status, outcome, error) in rows {
        let text = cage(args);
        assert_eq!(text.status.code(), Some(status), "{args:?}: {text:?}");
        assert!(
            text.stdout.is_empty(),
            "{args:?}: nothing on stdout in text mode"
        );
        let mut with_json = args.to_vec();
        with_json.insert(1, "--json");
        let out = cage(&with_json);
        assert_eq!(out.status.code(), Some(status), "{with_json:?}");
        let v = json(&out);
        assert_eq!(v["outcome"], outcome, "{with_json:?}: {v}");
        assert_eq!(v["error"], error, "{with_json:?}: {v}");
        assert!(v["message"].is_string(), "{with_json:?}: {v}");
    }
    // The messages say what is valid, not what a parser thought.
    let err = String::from_utf8_lossy(&cage(&["run", "--fuel", "-5", "examples/fib.wat"]).stderr)
        .into_owned();
    assert!(
        err.contains("invalid fuel `-5`") && !err.contains("-- -5"),
        "{err}"
    );
    let err =
        String::from_utf8_lossy(&cage(&["run", "--max-memory", "lots", "examples/fib.wat"]).stderr)
            .into_owned();
    assert!(
        err.contains("invalid size `lots`") && !err.contains("parse"),
        "{err}"
    );
    let err = String::from_utf8_lossy(&cage(&["run", not_wasm]).stderr).into_owned();
    assert!(
        err.contains("not a WebAssembly module") && err.contains("7f 45 4c 46"),
        "{err}"
    );
    let bad_text = tmp("bad.wat", "(module (func $f (result i32) (i32.const)))");
    let out = cage(&["run", "--json", bad_text.to_str().unwrap()]);
    let v = json(&out);
    assert!(v["message"].as_str().unwrap().contains("bad.wat"), "{v}");
}

#[test]
fn default_runs_are_bounded_and_say_so() {
    // The default preset stops an endless loop (10 s), and the summary names the limits.
    let out = cage(&[
        "run",
        "--runtime",
        "wasmtime",
        "--timeout",
        "50ms",
        "--invoke",
        "spin",
        "examples/spin.wat",
    ]);
    assert_eq!(out.status.code(), Some(70));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("limits: fuel none, timeout 50ms"), "{err}");
    let policy = cage::Policy::default();
    assert_eq!(
        policy.limits.timeout,
        Some(std::time::Duration::from_secs(10))
    );
}

#[test]
fn stdin_takes_any_bytes_from_a_file_or_dash() {
    let module = "conformance/cases/real/stdio_args_env.wasm";
    let bytes: &[u8] = &[0xff, 0x00, 0x80, b'\n'];
    let file = tmp("binary-stdin", "");
    std::fs::write(&file, bytes).unwrap();
    let from_file = json(&cage(&[
        "run",
        "--json",
        "--stdin",
        file.to_str().unwrap(),
        module,
    ]));
    let from_dash = json(&cage_with_stdin(
        &["run", "--json", "--stdin", "-", module],
        bytes,
    ));
    assert_eq!(from_file["outcome"], "exited", "{from_file}");
    assert!(
        from_file["stdout"]
            .as_str()
            .unwrap()
            .contains("stdin: 4 bytes"),
        "{from_file}"
    );
    assert_eq!(from_file["stdout"], from_dash["stdout"]);
}

#[test]
fn policy_init_explain_and_audit() {
    for preset in ["strict", "default", "permissive"] {
        let out = cage(&["policy", "init", "--preset", preset]);
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("# Bytes of each linear memory. Protects against"),
            "{text}"
        );
        // Every key is there, and the file reads back as the preset.
        let parsed = cage::Policy::from_toml(&text).unwrap();
        let want: cage::Preset = preset.parse().unwrap();
        assert_eq!(parsed, want.policy(), "{preset}");
    }
    let file = tmp("explained.toml", "[limits]\nmax_memory = \"1 MiB\"\n");
    let out = cage(&[
        "policy",
        "explain",
        file.to_str().unwrap(),
        "--fuel",
        "5",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    let source = |key: &str| {
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .map(|r| r["source"].as_str().unwrap().to_owned())
    };
    assert_eq!(source("limits.fuel").as_deref(), Some("flag"));
    assert_eq!(source("limits.max_memory").as_deref(), Some("file"));
    assert_eq!(source("limits.max_stack").as_deref(), Some("preset"));

    // A risky policy fails the audit, a clean one passes.
    let out = cage(&["policy", "audit", "--preset", "permissive", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["denied"], true);
    assert_eq!(v["findings"][0]["severity"], "high");
    assert_eq!(v["findings"][0]["key"], "limits.fuel");
    let out = cage(&["policy", "audit", "--preset", "strict"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let risky = tmp(
        "risky.toml",
        "preset = \"strict\"\n[features]\nthreads = true\n",
    );
    let out = cage(&["policy", "audit", risky.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("features.threads"));
    let out = cage(&["policy", "audit", "--preset", "strict", "--deny", "info"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "info findings fail at --deny info"
    );
}

#[test]
fn run_metrics_print_prometheus_text_on_stderr() {
    let out = cage(&[
        "run",
        "--runtime",
        "wasmtime",
        "--metrics",
        "--json",
        "--fuel",
        "100000",
        "--invoke",
        "spin",
        "examples/spin.wat",
    ]);
    assert_eq!(out.status.code(), Some(70));
    assert_eq!(json(&out)["trap"], "out_of_fuel");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("# TYPE cage_calls_total counter"), "{err}");
    assert!(
        err.contains(r#"outcome="trapped",kind="out_of_fuel"} 1"#),
        "{err}"
    );
    assert!(
        err.contains("cage_call_fuel_sum{runtime=\"wasmtime\""),
        "{err}"
    );
}

/// Copies a directory tree (the WASI testsuite's scratch roots are small).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn profile_recommends_a_verified_policy_that_stops_twice_the_need() {
    let dir = tmp("profile-marker", "").parent().unwrap().join("profile");
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("workload.toml");
    let report = dir.join("workload.json");
    let out = cage(&[
        "profile",
        "--invoke",
        "work",
        "--runs",
        "2",
        "--json",
        "--write-policy",
        policy.to_str().unwrap(),
        "examples/workload.wat",
        "--",
        "8",
        "8",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    std::fs::write(&report, v.to_string()).unwrap();
    assert_eq!(v["verified"]["ok"], true, "{v}");
    let runtimes = v["runtimes"].as_array().unwrap();
    assert_eq!(runtimes.len(), cage::available_runtimes().len());
    let fuel = runtimes[0]["fuel"]["max"].as_u64().unwrap();
    for r in runtimes {
        // Fuel is identical everywhere; memory is what the guest grew to.
        assert_eq!(r["fuel"]["max"].as_u64(), Some(fuel), "{r}");
        assert_eq!(r["peak_memory_bytes"]["max"], 8 * 65_536, "{r}");
        assert!(r["min_stack_bytes"].as_u64().unwrap() >= 16 * 1024, "{r}");
    }
    let text = std::fs::read_to_string(&policy).unwrap();
    assert!(text.contains("# observed: "), "{text}");
    let rec = cage::Policy::from_toml(&text).unwrap();
    let l = &rec.limits;
    assert!(
        l.fuel.unwrap() >= fuel && l.fuel.unwrap() < 2 * fuel,
        "{l:?}"
    );
    assert!(l.max_memory.bytes() >= 8 * 65_536 && l.max_memory.bytes() < 16 * 65_536);
    // WebAssembly 2.0 and exactly the later proposals the module uses: none.
    assert_eq!(rec.features, cage::Features::WASM2);
    assert!(!rec.features.contains(cage::Proposal::Threads));

    // Under the recommendation: the profiled input completes on every runtime; twice the work
    // runs out of fuel; twice the memory cannot grow (the guest traps on the failed grow).
    for runtime in cage::available_runtimes() {
        let run = |n: &str, pages: &str| {
            let out = cage(&[
                "run",
                "--runtime",
                runtime.as_str(),
                "--policy",
                policy.to_str().unwrap(),
                "--json",
                "--invoke",
                "work",
                "examples/workload.wat",
                "--",
                n,
                pages,
            ]);
            json(&out)
        };
        assert_eq!(run("8", "8")["outcome"], "returned", "{runtime}");
        assert_eq!(run("16", "8")["trap"], "out_of_fuel", "{runtime}");
        assert_eq!(run("8", "16")["trap"], "unreachable", "{runtime}");
    }

    // The audit passes the recommendation against its own profile, and flags a preset whose
    // limits are far above what the guest needs.
    let out = cage(&[
        "policy",
        "audit",
        policy.to_str().unwrap(),
        "--profile",
        report.to_str().unwrap(),
        "--deny",
        "medium",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = cage(&[
        "policy",
        "audit",
        "--preset",
        "strict",
        "--profile",
        report.to_str().unwrap(),
        "--deny",
        "medium",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    let keys: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"limits.max_memory"), "{v}");
}

#[test]
fn profile_narrows_wasi_to_what_a_real_program_used() {
    // A program nobody here wrote: the official WASI testsuite's file_pread_pwrite (Rust).
    let dir = tmp("profile-wasi-marker", "")
        .parent()
        .unwrap()
        .join("profile-wasi");
    let _ = std::fs::remove_dir_all(&dir);
    let scratch = dir.join("root");
    copy_tree(
        &root().join("conformance/wasi-testsuite/rust/fs-tests.dir"),
        &scratch,
    );
    let unused = dir.join("unused");
    std::fs::create_dir_all(&unused).unwrap();
    let root_arg = format!("{}::/", scratch.display());
    let unused_arg = format!("{}::/unused", unused.display());
    let out = cage(&[
        "profile",
        "--runs",
        "1",
        "--json",
        "--dir",
        &root_arg,
        "--dir",
        &unused_arg,
        "--env",
        "SECRET=1",
        "conformance/wasi-testsuite/rust/file_pread_pwrite.wasm",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v = json(&out);
    assert_eq!(v["verified"]["ok"], true, "{v}");
    let rec = &v["recommended"]["policy"];
    let dirs = rec["wasi"]["dirs"].as_array().unwrap();
    assert_eq!(dirs.len(), 1, "only the directory it reached: {rec}");
    assert_eq!(dirs[0]["guest"], "/");
    assert_eq!(dirs[0]["mode"], "rw", "it writes files");
    assert_eq!(
        rec["wasi"]["env"],
        serde_json::json!({}),
        "it never read its environment"
    );

    // A guest that fails while profiling gets no recommendation.
    let out = cage(&[
        "profile",
        "--runs",
        "1",
        "--json",
        "--invoke",
        "spin",
        "--fuel",
        "100000",
        "examples/spin.wat",
    ]);
    assert_eq!(out.status.code(), Some(70));
    let v = json(&out);
    assert_eq!(v["recommended"], serde_json::Value::Null);
    assert_eq!(v["failures"][0]["outcome"], "trapped:out_of_fuel", "{v}");

    // Hostile or wrong input is a typed error with one JSON object, never a crash.
    let junk = tmp("junk.wasm", "\0asm\x01\0\0\0\x7f\x7f");
    let out = cage(&["profile", "--json", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(65));
    assert_eq!(json(&out)["recommended"], serde_json::Value::Null);
    let out = cage(&["profile", "--json", "--headroom", "0.5", "examples/fib.wat"]);
    assert_eq!(out.status.code(), Some(64));
    let bad = tmp("bad-inputs.jsonl", "{\"argz\": []}\n");
    let out = cage(&[
        "profile",
        "--json",
        "--inputs",
        bad.to_str().unwrap(),
        "examples/hello-wasi.wat",
    ]);
    assert_eq!(out.status.code(), Some(64));
    assert_eq!(json(&out)["error"], "usage");
    assert!(json(&out)["message"].as_str().unwrap().contains("argz"));
}

#[test]
fn calibrate_reports_ns_per_fuel_with_spread_and_converts() {
    let out = cage(&[
        "calibrate",
        "--runtime",
        "wasmtime",
        "--samples",
        "2",
        "--timeout",
        "1s",
        "--fuel",
        "1000000",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    let r = &v["runtimes"][0];
    assert_eq!(r["runtime"], "wasmtime");
    let workloads = r["workloads"].as_array().unwrap();
    assert!(workloads.len() >= 5, "{r}");
    for w in workloads {
        let s = &w["ns_per_fuel"];
        let (min, median, max) = (
            s["min"].as_f64().unwrap(),
            s["median"].as_f64().unwrap(),
            s["max"].as_f64().unwrap(),
        );
        assert!(0.0 < min && min <= median && median <= max, "{w}");
        assert!(w["fuel"].as_u64().unwrap() > 0, "{w}");
    }
    let (typical, worst) = (
        r["typical_ns_per_fuel"].as_f64().unwrap(),
        r["worst_ns_per_fuel"].as_f64().unwrap(),
    );
    assert!(typical <= worst, "{r}");
    // The conversions follow from the measured rates.
    let f = &r["fuel_for_timeout"];
    let worst_fuel = f["worst_case"].as_u64().unwrap() as f64;
    assert!(
        (worst_fuel - 1e9 / worst).abs() <= 1e9 / worst * 1e-6 + 1.0,
        "{r}"
    );
    assert!(f["worst_case"].as_u64() <= f["typical"].as_u64(), "{r}");
    let t = &r["time_for_fuel"];
    let ms = t["worst_case_ms"].as_f64().unwrap();
    assert!((ms - 1e6 * worst / 1e6).abs() < 1e-6 * ms.max(1.0), "{r}");
}

/// A guest blocked reading the host's stdin (`--inherit-stdio`) is stopped at its deadline
/// (`trapped: timeout`), on every runtime, although the pipe stays open and empty: Cage waits
/// for input only until the deadline.
#[test]
fn inherited_stdin_honours_the_deadline() {
    let guest = tmp(
        "read_stdin.wat",
        r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 64))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
    );
    for runtime in ["wasmtime", "wasmer-cranelift", "wasmer-singlepass"] {
        let started = std::time::Instant::now();
        // stdin: a pipe nobody writes to or closes until the run is over.
        let mut child = cage_command()
            .args(["run", "--json", "--runtime", runtime, "--inherit-stdio"])
            .args(["--timeout", "300ms", guest.to_str().unwrap()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("cannot run cage");
        let stdin = child.stdin.take();
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        let report = json(&out);
        assert_eq!(report["outcome"], "trapped", "{runtime}: {report}");
        assert_eq!(report["trap"], "timeout", "{runtime}: {report}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{runtime}: took {:?}",
            started.elapsed()
        );
    }
}

/// A read-only grant inside a read-write one is refused before anything runs, naming both.
#[test]
fn a_read_only_grant_inside_a_read_write_one_is_refused() {
    let dir = std::env::temp_dir().join(format!("cage-cli-nest-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("in")).unwrap();
    let outer = format!("{}::/work", dir.display());
    let inner = format!("{}::/in", dir.join("in").display());
    let out = cage(&[
        "run",
        "--dir",
        &outer,
        "--dir-ro",
        &inner,
        "examples/hello-wasi.wat",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("/work") && err.contains("/in"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
