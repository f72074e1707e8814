//! The smallest vendored Sightglass programs run once on every engine (Cage's runtimes in every
//! configuration, the raw runtimes with their own WASI), with their output checked against the
//! expected files and `fuel_consumed` identical across Cage's runtimes. No timing is asserted.

use cage_bench::programs::{
    Engine, Options, Phase, Program, ProgramResult, Status, load_suite, run_program, sightglass_dir,
};

/// Programs small enough to run on every engine in a test: no input, inputs read from the
/// preopened folder, markers, GC (Wasmtime only), SIMD (not on Singlepass).
const SMOKE: &[&str] = &[
    "noop",
    "shootout-gimli",
    "shootout-minicsv",
    "shootout-ackermann",
    "splay",
    "libsodium-box_easy2",
];

fn smoke_programs() -> Vec<Program> {
    let all = load_suite(&sightglass_dir(), &cage::Preset::Permissive.policy(), false)
        .expect("the vendored suite loads");
    SMOKE
        .iter()
        .map(|n| {
            all.iter()
                .find(|p| p.name == *n)
                .unwrap_or_else(|| panic!("{n} is not in the vendored suite"))
                .clone()
        })
        .collect()
}

fn run(p: &Program) -> ProgramResult {
    let options = Options {
        phases: vec![Phase::Compile],
        ..Options::smoke()
    };
    cage::on_guest_thread(&p.policy, || run_program(p, &options, &mut |_| {}))
        .expect("a guest thread")
}

#[test]
fn the_smallest_sightglass_programs_are_verified_on_every_engine() {
    for p in smoke_programs() {
        let r = run(&p);
        assert_eq!(r.failure, None, "{}: {:#?}", p.name, r.targets);
        for t in &r.targets {
            let engine = t.target.engine;
            let gc = p.uses(cage::Proposal::Gc);
            let simd = p.uses(cage::Proposal::Simd);
            // What may not run: GC off Wasmtime, SIMD on Singlepass; everything else must.
            let may_skip = (gc && engine.runtime() != cage::RuntimeName::Wasmtime)
                || (simd && engine.runtime() == cage::RuntimeName::WasmerSinglepass);
            match &t.status {
                Status::Ok => {
                    assert!(!(gc && may_skip), "{} ran gc on {}", p.name, engine.name());
                    for ph in [Phase::Compile, Phase::Instantiate, Phase::Execute] {
                        assert_eq!(
                            t.phases.get(&ph).map(|s| s.n),
                            Some(1),
                            "{} {} {}",
                            p.name,
                            t.target.id(),
                            ph.name()
                        );
                    }
                    if engine.kind() == "cage" {
                        assert_eq!(t.fuel.is_some(), t.target.limits.fuel, "{}", t.target.id());
                        assert_eq!(t.ns_per_fuel.is_some(), t.target.limits.fuel);
                    }
                }
                Status::NotApplicable(why) => {
                    assert!(may_skip, "{} on {}: n/a: {why}", p.name, t.target.id());
                }
                Status::Failed(why) => panic!("{} on {}: {why}", p.name, t.target.id()),
            }
        }
        // Fuel: one number for every metered Cage target.
        let fuel: Vec<u64> = r
            .targets
            .iter()
            .filter(|t| t.target.engine.kind() == "cage")
            .filter_map(|t| t.fuel)
            .collect();
        assert!(!fuel.is_empty(), "{}", p.name);
        assert!(fuel.iter().all(|f| *f == fuel[0]), "{}: {fuel:?}", p.name);
        // Markers: every vendored program has them, and the region's fuel is the same too.
        assert!(r.markers, "{}", p.name);
        let region: Vec<u64> = r.targets.iter().filter_map(|t| t.region_fuel).collect();
        assert!(
            region.iter().all(|f| *f == region[0]),
            "{}: {region:?}",
            p.name
        );
        // The raw baselines ran where they can.
        let raw_ok = r
            .targets
            .iter()
            .filter(|t| t.target.engine == Engine::RawWasmtime && t.status == Status::Ok)
            .count();
        assert!(raw_ok > 0, "{}: raw-wasmtime did not run it", p.name);
    }
}

#[test]
fn a_wrong_expected_output_fails_the_benchmark() {
    let mut p = smoke_programs().remove(0);
    p.expected.stdout = Some(b"something else\n".to_vec());
    let r = run(&p);
    let f = r.failure.expect("a mismatch fails the benchmark");
    assert!(f.contains("stdout differs"), "{f}");
    assert!(
        r.targets
            .iter()
            .filter(|t| t.target.engine.kind() == "cage")
            .all(|t| t.phases.is_empty()),
        "no numbers for a failed benchmark"
    );
}
