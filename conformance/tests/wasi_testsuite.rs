//! The official WASI testsuite (preview 1) on every runtime compiled in: one trial per test ×
//! runtime (`wasi-testsuite/rust/fd_readdir::wasmer-cranelift`), judged as the official runner
//! judges (exit code; stdout/stderr where the test's `.json` gives them), plus one `::identical`
//! trial per test demanding the same exit code, stdout and `fuel_consumed` everywhere. A failure
//! not listed in `wasi-known-failures.toml` fails, and so does a listed one that passes.

use std::sync::{Arc, OnceLock};

use cage_conformance::wasi_testsuite::{
    is_known_wasi_failure, load_wasi_tests, wasi_known_failures, wasi_testsuite_dir,
};
use cage_conformance::{CaseResult, Verdict, run_case};
use libtest_mimic::{Arguments, Failed, Trial};

fn factory(
    name: cage::RuntimeName,
    policy: &cage::Policy,
) -> Result<Box<dyn cage::DynRuntime>, String> {
    cage::runtime_named(name, policy).map_err(|e| e.to_string())
}

/// The ratchet: `failed` must be exactly what the known-failures file says.
fn judge(known: bool, failed: Option<String>) -> Result<(), Failed> {
    match (known, failed) {
        (false, None) | (true, Some(_)) => Ok(()),
        (false, Some(why)) => Err(Failed::from(why)),
        (true, None) => Err(Failed::from(
            "listed in wasi-known-failures.toml but passes: remove it from the list",
        )),
    }
}

fn main() {
    let args = Arguments::from_args();
    let runtimes: Arc<Vec<cage::RuntimeName>> = Arc::new(cage::available_runtimes());
    let known = Arc::new(wasi_known_failures());
    let tests = load_wasi_tests(&wasi_testsuite_dir())
        .unwrap_or_else(|e| panic!("cannot load the WASI testsuite: {e}"));
    assert_eq!(tests.len(), 72, "the vendored suite has 72 tests");
    let mut trials = Vec::new();
    for test in tests {
        let test = Arc::new(test);
        let result: Arc<OnceLock<CaseResult>> = Arc::new(OnceLock::new());
        let get = {
            let (test, result, runtimes) = (test.clone(), result.clone(), runtimes.clone());
            move || -> CaseResult {
                result
                    .get_or_init(|| run_case(&test, &runtimes, &factory))
                    .clone()
            }
        };
        for (i, &rt) in runtimes.iter().enumerate() {
            let (get, known, name) = (get.clone(), known.clone(), test.name.clone());
            trials.push(Trial::test(format!("{}::{rt}", test.name), move || {
                let r = get();
                let failed = match &r.verdicts[i].1 {
                    Verdict::Pass => None,
                    Verdict::Fail(why) | Verdict::Unsupported(why) => Some(why.clone()),
                };
                judge(is_known_wasi_failure(&known, &name, rt.as_str()), failed)
            }));
        }
        if runtimes.len() > 1 {
            let (known, name) = (known.clone(), test.name.clone());
            trials.push(Trial::test(
                format!("{}::identical", test.name),
                move || {
                    let r = get();
                    let failed = match (r.identical, r.divergence) {
                        (Some(false), Some(d)) => Some(format!("runtimes differ: {d}")),
                        _ => None,
                    };
                    judge(is_known_wasi_failure(&known, &name, "identical"), failed)
                },
            ));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
