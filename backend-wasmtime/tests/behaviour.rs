//! The Wasmtime backend proves itself: core's behaviour suite and the conformance corpus on
//! `wasmtime` alone (`cargo test -p cage-wasmtime`), without the `cage` facade.

use cage_behaviour::{self as behaviour, Mode, Target};
use cage_core::{DynRuntime, Error, Policy, RuntimeName};
use libtest_mimic::{Arguments, Failed, Trial};

fn make(policy: &Policy) -> Result<Box<dyn DynRuntime>, Error> {
    behaviour::with_wasi(Box::new(cage_wasmtime::runtime(policy)?))
}

fn main() {
    let args = Arguments::from_args();
    let mut trials: Vec<Trial> = Vec::new();
    for &mode in Mode::all() {
        for b in behaviour::all() {
            trials.push(Trial::test(
                format!("behaviour::{}::wasmtime{}", b.name, mode.suffix()),
                move || {
                    (b.run)(&Target::new(&make, mode));
                    Ok(())
                },
            ));
        }
    }
    trials.push(Trial::test(
        "behaviour::typed_calls_match_untyped_calls::wasmtime",
        || {
            behaviour::typed_calls_match_untyped_calls(&|p: &Policy| cage_wasmtime::runtime(p));
            Ok(())
        },
    ));
    // The async mode runs on Wasmtime's fibers whenever this backend has its `async` feature
    // (the workspace's tests: `cage` with `async` enables it), on guest threads otherwise.
    trials.push(Trial::test(
        "behaviour::async_mode_is_native::wasmtime",
        || {
            let native = make(&Policy::default())
                .map_err(|e| Failed::from(e.to_string()))?
                .capabilities()
                .native_async;
            if native == cfg!(feature = "async") {
                Ok(())
            } else {
                Err(Failed::from(format!("native_async is {native}")))
            }
        },
    ));
    trials.extend(corpus_trials());
    libtest_mimic::run(&args, trials).exit();
}

/// Every corpus case on `wasmtime`: its expected outcome (cases whose proposals the backend's
/// capabilities exclude are skipped by those capabilities).
fn corpus_trials() -> Vec<Trial> {
    let factory = |_: RuntimeName, p: &Policy| make(p).map_err(|e| e.to_string());
    let cases = cage_conformance::load_cases(&cage_conformance::corpus_dir())
        .unwrap_or_else(|e| panic!("cannot load the corpus: {e}"));
    cases
        .into_iter()
        .map(|case| {
            Trial::test(format!("corpus::{}::wasmtime", case.name), move || {
                let r = cage_conformance::run_case(&case, &[RuntimeName::Wasmtime], &factory);
                match &r.verdicts[0].1 {
                    cage_conformance::Verdict::Fail(why) => Err(Failed::from(why.as_str())),
                    _ => Ok(()),
                }
            })
        })
        .collect()
}
