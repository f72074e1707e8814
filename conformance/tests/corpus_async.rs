//! The corpus under the async API: every case, on every runtime, run through
//! `cage::run_async` on a 2-thread tokio runtime, must give exactly what the sync path gives
//! (outcome, message class, fuel, stdout, stderr) and pass its `expect` the same way.

use std::sync::{Arc, OnceLock};

use cage_conformance::{Case, corpus_dir, load_cases, run_case, run_case_with};
use libtest_mimic::{Arguments, Failed, Trial};

fn factory(
    name: cage::RuntimeName,
    policy: &cage::Policy,
) -> Result<Box<dyn cage::DynRuntime>, String> {
    cage::runtime_named(name, policy).map_err(|e| e.to_string())
}

/// One executor for every trial: two worker threads, as a small server would have.
fn executor() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .expect("a tokio runtime")
    })
}

fn compare(case: &Case, runtimes: &[cage::RuntimeName]) -> Result<(), Failed> {
    let sync = run_case(case, runtimes, &factory);
    let asynchronous = run_case_with(case, runtimes, &factory, &|rt, bytes, host, inv, _| {
        executor().block_on(cage::run_async(
            rt,
            bytes.to_vec(),
            host.clone(),
            inv.clone(),
        ))
    });
    for ((name, s), (_, a)) in sync.results.iter().zip(&asynchronous.results) {
        let key = |r: &cage::Report| {
            (
                r.outcome(),
                r.fuel_consumed,
                r.stdout.clone(),
                r.stderr.clone(),
            )
        };
        if key(s) != key(a) {
            return Err(format!("{name}: sync {s:?}\nasync {a:?}").into());
        }
    }
    let verdicts = |r: &cage_conformance::CaseResult| format!("{:?}", r.verdicts);
    if verdicts(&sync) != verdicts(&asynchronous) {
        return Err(format!(
            "verdicts differ: sync {}, async {}",
            verdicts(&sync),
            verdicts(&asynchronous)
        )
        .into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let runtimes: Arc<Vec<cage::RuntimeName>> = Arc::new(cage::available_runtimes());
    let cases = load_cases(&corpus_dir()).unwrap_or_else(|e| panic!("cannot load the corpus: {e}"));
    assert!(!cases.is_empty(), "the corpus is empty");
    let trials = cases
        .into_iter()
        .map(|case| {
            let runtimes = runtimes.clone();
            Trial::test(format!("async::{}", case.name), move || {
                compare(&case, &runtimes)
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
