//! The Wasmer backend proves itself: the behaviour suite (`cage-behaviour`) and the
//! conformance corpus on `wasmer-cranelift` and `wasmer-singlepass` alone (`cargo test -p
//! cage-wasmer --features singlepass`), without the `cage` facade: its metering middleware,
//! tunables, watchdog and WASI layer. Without the feature (BUSL-1.1, off by default) Singlepass
//! shows as one ignored test.

use cage_behaviour::{self as behaviour, Mode, Target};
use cage_core::{DynRuntime, Error, Policy};
use cage_wasmer::Compiler;
use libtest_mimic::{Arguments, Failed, Trial};

fn make(
    compiler: Compiler,
) -> impl Fn(&Policy) -> Result<Box<dyn DynRuntime>, Error> + Clone + Send + Sync + 'static {
    move |policy| behaviour::with_wasi(Box::new(cage_wasmer::runtime(policy, compiler)?))
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for compiler in [Compiler::Cranelift, Compiler::Singlepass] {
        let name = compiler.runtime_name();
        if !compiler.is_compiled_in() {
            trials.push(
                Trial::test(
                    format!("behaviour::{name} (not compiled in: --features singlepass)"),
                    || Ok(()),
                )
                .with_ignored_flag(true),
            );
            continue;
        }
        for &mode in Mode::all() {
            for b in behaviour::all() {
                trials.push(Trial::test(
                    format!("behaviour::{}::{name}{}", b.name, mode.suffix()),
                    move || {
                        (b.run)(&Target::new(&make(compiler), mode));
                        Ok(())
                    },
                ));
            }
        }
        trials.push(Trial::test(
            format!("behaviour::typed_calls_match_untyped_calls::{name}"),
            move || {
                behaviour::typed_calls_match_untyped_calls(&|p: &Policy| {
                    cage_wasmer::runtime(p, compiler)
                });
                Ok(())
            },
        ));
        // Every corpus case: its expected outcome, or `unsupported` exactly where the
        // compiler's declared capabilities say so.
        for (test, run) in cage_conformance::backend_tests::corpus_checks(name, make(compiler)) {
            trials.push(Trial::test(test, move || run().map_err(Failed::from)));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
