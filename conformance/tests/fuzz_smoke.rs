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

/// The proposals fuzzing enables are exactly ones both Wasmtime and Wasmer (Cranelift) declare.
#[test]
fn shared_proposals_are_in_both_runtimes_capabilities() {
    let policy = cage::Policy::default();
    for name in [
        cage::RuntimeName::Wasmtime,
        cage::RuntimeName::WasmerCranelift,
    ] {
        let rt = factory(name, &policy).unwrap();
        for p in cage_conformance::fuzz::SHARED_PROPOSALS {
            assert!(
                rt.capabilities().features.contains(*p),
                "{name} does not declare {p}"
            );
        }
    }
}

/// The seeds reach what the fuzzer promises: imports (WASI and `cage_test`), each shared
/// proposal, and tight limits, in a share of the modules.
#[test]
fn the_smoke_seeds_cover_imports_proposals_and_limits() {
    use cage_conformance::fuzz::Shape;
    let shapes: Vec<Shape> = SEEDS.map(Shape::of).collect();
    let count = |f: fn(&Shape) -> bool| shapes.iter().filter(|s| f(s)).count();
    assert!(count(|s| s.imports) > 100);
    assert!(count(|s| s.limits) > 50);
    assert!(count(|s| s.multi_memory) > 40);
    assert!(count(|s| s.exceptions) > 20);
    assert!(count(|s| s.relaxed_simd) > 20);
    assert!(count(|s| s.wide_arithmetic) > 20);
    assert!(count(|s| s.extended_const) > 40);
    // Generated modules really import WASI and cage_test functions.
    let (mut wasi, mut host) = (0, 0);
    for seed in SEEDS.filter(|s| Shape::of(*s).imports).take(60) {
        let Some(bytes) = cage_conformance::fuzz::generate(seed) else {
            continue;
        };
        let info = cage::module::outline(&bytes).unwrap();
        wasi += usize::from(info.imports.iter().any(|i| i.module == cage::WASI_MODULE));
        host += usize::from(info.imports.iter().any(|i| i.module == "cage_test"));
    }
    assert!(wasi > 10 && host > 10, "wasi {wasi}, cage_test {host}");
}

/// The declared runtime bugs are recognised (and only on the runtime that has them): the
/// modules that found them report it, and the other runtimes still agree. Seed 6 004 797's own
/// module no longer reaches the Singlepass fault (its guest code calls `sched_yield` first,
/// which now traps in a module without memory, as under `wasmtime-wasi`), so the module kept
/// in `tests/data/` is that one with its `sched_yield` calls replaced by `i32.const 0`.
#[test]
fn declared_runtime_bugs_are_reported_apart() {
    let reduced = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/seed-6004797-without-wasi-calls.wasm"
    ))
    .unwrap();
    for (seed, module, runtime) in [
        (
            242,
            cage_conformance::fuzz::generate(242),
            cage::RuntimeName::WasmerCranelift,
        ),
        (
            6_004_797,
            Some(reduced),
            cage::RuntimeName::WasmerSinglepass,
        ),
    ] {
        let r =
            cage_conformance::fuzz::run_module(seed, module, &cage::available_runtimes(), &factory);
        assert!(
            r.runtime_bugs.iter().any(|(n, _)| *n == runtime),
            "seed {seed}: {:?}",
            r.runtime_bugs
        );
        assert_eq!(r.runtime_bugs.len(), 1, "seed {seed}");
        assert_eq!(r.divergence, None, "seed {seed}");
    }
}
