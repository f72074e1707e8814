//! Differential fuzzing smoke run: the modules of seeds 0..300 (fixed, so every run checks the
//! same modules) on every runtime, each demanding identical traces. `cage fuzz --seconds N`
//! runs longer; a divergence it finds becomes a corpus case.

use cage_conformance::fuzz::run_seed;

fn factory(
    name: cage::RuntimeName,
    policy: &cage::Policy,
) -> Result<Box<dyn cage::DynRuntime>, String> {
    cage::runtime_named(name, policy).map_err(|e| e.to_string())
}

/// Seeds of the smoke run.
const SEEDS: std::ops::Range<u64> = 0..300;

#[test]
fn generated_modules_behave_identically_on_every_runtime() {
    let runtimes = cage::available_runtimes();
    let mut generated = 0;
    let mut compared = 0;
    let mut steps = 0;
    let mut divergences = Vec::new();
    for seed in SEEDS {
        let r = run_seed(seed, &runtimes, &factory);
        if r.module.is_none() {
            continue;
        }
        generated += 1;
        if r.traces.len() >= 2 {
            compared += 1;
            steps += r.traces[0].1.steps.len();
        }
        if let Some(d) = r.divergence {
            divergences.push(format!("seed {seed}: {d}"));
        }
    }
    eprintln!("{generated} modules generated, {compared} compared, {steps} steps each");
    assert!(
        generated * 10 >= SEEDS.count() * 9,
        "wasm-smith made only {generated} modules"
    );
    assert!(steps > generated, "the modules ran too little to compare");
    assert!(
        divergences.is_empty(),
        "divergences:\n{}",
        divergences.join("\n")
    );
}
