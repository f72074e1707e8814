//! The Wasmer backend proves itself: core's behaviour suite and the conformance corpus on
//! `wasmer-cranelift` and `wasmer-singlepass` alone (`cargo test -p cage-wasmer --features
//! singlepass`), without the `cage` facade: its metering middleware, tunables, watchdog and WASI
//! layer. Without the feature (BUSL-1.1, off by default) Singlepass shows as one ignored test.

use cage_behaviour::{self as behaviour, Mode, Target};
use cage_core::{DynRuntime, Error, Policy, RuntimeName};
use cage_wasmer::Compiler;
use libtest_mimic::{Arguments, Failed, Trial};

fn make(compiler: Compiler) -> impl Fn(&Policy) -> Result<Box<dyn DynRuntime>, Error> + Sync {
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
        trials.extend(corpus_trials(compiler));
    }
    libtest_mimic::run(&args, trials).exit();
}

/// Every corpus case on one compiler: its expected outcome, or `unsupported` exactly where the
/// compiler's declared capabilities say so.
fn corpus_trials(compiler: Compiler) -> Vec<Trial> {
    let name = compiler.runtime_name();
    let cases = cage_conformance::load_cases(&cage_conformance::corpus_dir())
        .unwrap_or_else(|e| panic!("cannot load the corpus: {e}"));
    cases
        .into_iter()
        .map(|case| {
            Trial::test(format!("corpus::{}::{name}", case.name), move || {
                let make = make(compiler);
                let factory = |_: RuntimeName, p: &Policy| make(p).map_err(|e| e.to_string());
                let r = cage_conformance::run_case(&case, &[name], &factory);
                match &r.verdicts[0].1 {
                    cage_conformance::Verdict::Fail(why) => Err(Failed::from(why.as_str())),
                    _ => Ok(()),
                }
            })
        })
        .collect()
}
