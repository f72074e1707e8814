//! The Wasmtime backend proves itself: the behaviour suite (`cage-behaviour`) and the
//! conformance corpus on `wasmtime` alone (`cargo test -p cage-wasmtime`), without the `cage`
//! facade.

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
    // Every corpus case on `wasmtime` (cases whose proposals the backend's capabilities exclude
    // are skipped by those capabilities).
    for (test, run) in cage_conformance::backend_tests::corpus_checks(RuntimeName::Wasmtime, make) {
        trials.push(Trial::test(test, move || run().map_err(Failed::from)));
    }
    libtest_mimic::run(&args, trials).exit();
}
