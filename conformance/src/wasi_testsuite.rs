//! The official WASI testsuite (preview 1), vendored in `conformance/wasi-testsuite/`, as
//! conformance cases: each test becomes a [`Case`] that runs as a WASI command and expects the
//! test's exit code (and its stdout/stderr where the `.json` gives them), exactly as the official
//! runner judges it. Like every case, it must also behave identically on every runtime: same exit
//! code, same stdout and the same `fuel_consumed` (every test runs with fuel metering on).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cage_core::policy::DirMode;
use cage_core::{Policy, Value};
use serde::Deserialize;

use crate::case::{Case, CaseSpec, Expect, LoadError};

/// The fuel budget each test runs under: far above what any test needs, so metering is on and
/// measured without ever stopping a test.
pub const WASI_TEST_FUEL: u64 = 100_000_000_000;

/// The vendored testsuite in this source tree.
pub fn wasi_testsuite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("wasi-testsuite")
}

/// The vendored testsuite, embedded at build time, so that a `cage` binary runs it from anywhere.
static EMBEDDED: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/wasi-testsuite");

/// The embedded testsuite written to a fresh temporary directory (tests preopen their scratch
/// roots from there), removed on drop.
///
/// # Errors
/// The temporary directory cannot be written.
pub fn extract_wasi_testsuite() -> std::io::Result<crate::BuiltinCorpus> {
    crate::BuiltinCorpus::extract_dir(&EMBEDDED)
}

/// A test's `.json`, as the official runner reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestSpec {
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    root: Option<String>,
    #[serde(default)]
    exit_code: i32,
    stdout: Option<String>,
    stderr: Option<String>,
}

/// Every test under `dir` (its `rust/`, `c/` and `assemblyscript/` folders, or any folder of
/// `.wasm` files with their `.json`), sorted, named `wasi-testsuite/<folder>/<test>`.
///
/// # Errors
/// A file that cannot be read, or a `.json` that is not a valid test specification.
pub fn load_wasi_tests(dir: &Path) -> Result<Vec<Case>, LoadError> {
    let io = |p: &Path| {
        let p = p.to_owned();
        move |source| LoadError::Io { path: p, source }
    };
    let mut wasm = Vec::new();
    collect(dir, &mut wasm).map_err(io(dir))?;
    wasm.sort();
    let mut cases = Vec::new();
    for path in wasm {
        let json = path.with_extension("json");
        let spec: TestSpec = if json.exists() {
            let text = std::fs::read_to_string(&json).map_err(io(&json))?;
            serde_json::from_str(&text).map_err(|e| LoadError::Header {
                path: json.clone(),
                message: e.to_string(),
            })?
        } else {
            TestSpec::default()
        };
        let source = std::fs::read(&path).map_err(io(&path))?;
        let rel = path.strip_prefix(dir).unwrap_or(&path).with_extension("");
        let name = format!(
            "wasi-testsuite/{}",
            rel.to_string_lossy().replace('\\', "/")
        );
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut policy = Policy::default();
        policy.limits.fuel = Some(WASI_TEST_FUEL);
        // Seeded, so that a test whose behaviour depends on random bytes (Rust's `HashMap`
        // iteration order, say) does the same thing on every runtime and can be compared.
        policy.wasi.random = cage_core::policy::Random::Seeded { seed: 0 };
        policy.wasi.args = std::iter::once(file_name).chain(spec.args).collect();
        policy.wasi.env = spec.env;
        if let Some(root) = &spec.root {
            let host = path.parent().unwrap_or(dir).join(root);
            policy
                .wasi
                .dirs
                .push(cage_core::policy::Dir::new(host, "/", DirMode::Rw));
        }
        let expect = format!("exited:{}", spec.exit_code);
        cases.push(Case {
            name,
            path: path.clone(),
            source,
            expect: Expect::parse(&expect).map_err(|message| LoadError::Header {
                path: json.clone(),
                message,
            })?,
            spec: CaseSpec {
                expect,
                expect_stdout: spec.stdout,
                expect_stderr: spec.stderr,
                description: Some("official WASI testsuite (preview 1)".into()),
                ..CaseSpec::default()
            },
            policy,
            args: Vec::<Value>::new(),
        });
    }
    Ok(cases)
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(path)? {
        let p = entry?.path();
        if p.is_dir() {
            // A test's scratch root is data, not more tests.
            if p.extension().is_none_or(|e| e != "dir") {
                collect(&p, out)?;
            }
        } else if p.extension().is_some_and(|e| e == "wasm") {
            out.push(p);
        }
    }
    Ok(())
}

/// One known failure: a test that fails on a runtime (or, with `runtime = "identical"`, whose
/// runtimes disagree), with the reason.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasiKnownFailure {
    /// Test name without the `wasi-testsuite/` prefix, e.g. `rust/fd_readdir`.
    pub test: String,
    /// Runtime name, `*` for every runtime, or `identical` for a divergence between runtimes.
    pub runtime: String,
    /// Why.
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KnownFile {
    #[serde(default)]
    failure: Vec<WasiKnownFailure>,
}

/// The known failures listed in `conformance/wasi-known-failures.toml` (embedded at build time).
///
/// # Panics
/// The file is invalid (it is part of this source tree, and a test parses it).
pub fn wasi_known_failures() -> Vec<WasiKnownFailure> {
    toml::from_str::<KnownFile>(include_str!("../wasi-known-failures.toml"))
        .expect("wasi-known-failures.toml parses")
        .failure
}

/// Whether `test` (a case name) on `runtime` is a listed failure.
pub fn is_known_wasi_failure(known: &[WasiKnownFailure], test: &str, runtime: &str) -> bool {
    let test = test.strip_prefix("wasi-testsuite/").unwrap_or(test);
    known.iter().any(|k| {
        k.test == test && (k.runtime == runtime || (k.runtime == "*" && runtime != "identical"))
    })
}
