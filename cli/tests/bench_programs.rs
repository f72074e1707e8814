//! `cage bench MODULE -- ARGS` on a program nobody wrote for Cage (a C program built with
//! clang for WASI preview 1, `bench/programs/`), end to end through the command line: the
//! module's flags, its arguments, every engine, the `cage-bench/2` JSON. No timing is asserted.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn cage_bench_runs_a_c_program_with_arguments_on_every_engine() {
    let dir = std::env::temp_dir().join(format!("cage-bench-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("wordfreq.json");
    let out = Command::new(env!("CARGO_BIN_EXE_cage"))
        .current_dir(root())
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .args([
            "bench",
            "--iterations",
            "1",
            "--warmup",
            "0",
            "--phase",
            "compile",
            "--json",
        ])
        .arg(&json)
        .args([
            "--dir-ro",
            "bench/suites/sightglass/pulldown-cmark::/data",
            "bench/programs/wordfreq.wasm",
            "--",
            "/data/default.input.md",
            "5",
        ])
        .output()
        .expect("cannot run cage");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("wordfreq  verified; fuel "), "{stdout}");
    assert!(
        stdout.contains("no markers: the whole _start is timed"),
        "{stdout}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["schema"], "cage-bench/2");
    let p = &doc["programs"][0];
    assert_eq!(p["name"], "wordfreq");
    assert_eq!(p["status"], "verified");
    let targets = p["targets"].as_array().unwrap();
    // 3 Cage runtimes × 4 configurations + 3 raw runtimes × (plain, fuel).
    assert_eq!(targets.len(), 18, "{targets:#?}");
    let mut fuel = None;
    for t in targets {
        assert_eq!(t["status"], "ok", "{t:#}");
        assert_eq!(t["exit"], "exit 0");
        for ph in ["compile", "instantiate", "execute"] {
            assert_eq!(t["phases"][ph]["n"], 1, "{t:#}");
        }
        if t["kind"] == "cage" && t["config"].as_str().unwrap().starts_with("fuel") {
            assert!(t["ns_per_fuel"]["median"].as_f64().unwrap() > 0.0, "{t:#}");
            let f = t["fuel_consumed"].as_u64().unwrap();
            assert_eq!(*fuel.get_or_insert(f), f, "fuel identical on every runtime");
        }
        if t["kind"] == "cage" && t["config"] == "plain" {
            assert!(
                t["vs_raw"]["execute"]["ratio"].as_f64().unwrap() > 0.0,
                "{t:#}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
