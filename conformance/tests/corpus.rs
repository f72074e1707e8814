//! The built-in corpus as one test per case × runtime, plus one `identical` test per case that
//! demands every runtime agree. `cargo test -p cage-conformance -- FILTER` runs a subset.
//!
//! A runtime that cannot run a proposal a case uses (its declared capabilities say so) gets an
//! ignored trial named `…::<runtime>::unsupported`: reported, never counted as a pass.

use std::sync::{Arc, OnceLock};

use cage_conformance::{Case, CaseResult, Verdict, corpus_dir, load_cases, run_case};
use libtest_mimic::{Arguments, Failed, Trial};

fn factory(
    name: cage::RuntimeName,
    policy: &cage::Policy,
) -> Result<Box<dyn cage::DynRuntime>, String> {
    cage::runtime_named(name, policy).map_err(|e| e.to_string())
}

/// Whether `runtime` can run every proposal `case` uses, by its declared capabilities. A runtime
/// that cannot even be built is "supported" here, so that its trial runs and fails.
fn supported(case: &Case, runtime: cage::RuntimeName) -> bool {
    let Ok(rt) = factory(runtime, &cage::Policy::default()) else {
        return true;
    };
    let Ok(bytes) = cage::module::to_binary(&case.source) else {
        return true;
    };
    let Ok(checked) = cage::check(&bytes, &case.policy) else {
        return true;
    };
    cage::module::require_supported(&checked, &case.policy, rt.capabilities(), runtime.as_str())
        .is_ok()
}

fn main() {
    let args = Arguments::from_args();
    let runtimes: Arc<Vec<cage::RuntimeName>> = Arc::new(cage::available_runtimes());
    let cases = load_cases(&corpus_dir()).unwrap_or_else(|e| panic!("cannot load the corpus: {e}"));
    assert!(!cases.is_empty(), "the corpus is empty");
    let mut trials = Vec::new();
    for case in cases {
        let case = Arc::new(case);
        let result: Arc<OnceLock<CaseResult>> = Arc::new(OnceLock::new());
        let get = {
            let (case, result, runtimes) = (case.clone(), result.clone(), runtimes.clone());
            move || -> CaseResult {
                result
                    .get_or_init(|| run_case(&case, &runtimes, &factory))
                    .clone()
            }
        };
        for (i, &rt) in runtimes.iter().enumerate() {
            if !supported(&case, rt) {
                trials.push(
                    Trial::test(format!("{}::{rt}::unsupported", case.name), || Ok(()))
                        .with_ignored_flag(true),
                );
                continue;
            }
            let get = get.clone();
            trials.push(Trial::test(format!("{}::{rt}", case.name), move || {
                let r = get();
                match &r.verdicts[i].1 {
                    Verdict::Pass => Ok(()),
                    Verdict::Fail(why) => Err(Failed::from(why.as_str())),
                    Verdict::Unsupported(why) => Err(Failed::from(format!(
                        "rejected:unsupported although the capabilities say it is supported: {why}"
                    ))),
                }
            }));
        }
        if runtimes.len() > 1 {
            let allow = case.spec.allow_divergence.is_some();
            trials.push(Trial::test(
                format!("{}::identical", case.name),
                move || {
                    let r = get();
                    match (r.identical, &r.divergence) {
                        (Some(false), Some(d)) if !allow => {
                            Err(Failed::from(format!("runtimes differ: {d}")))
                        }
                        _ => Ok(()),
                    }
                },
            ));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
