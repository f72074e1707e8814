//! Prints what each runtime did with one fuzzing seed's module, step by step:
//! `cargo run --release -p cage-conformance --example fuzz_seed -- SEED [OUT.wasm]` (with
//! `OUT.wasm`, also writes the module there, to read with `wasm-tools print` or reduce). With
//! `CAGE_FUZZ_MODULE=FILE` in the environment, runs that module (one reduced from the seed's)
//! under the seed's policy instead.

fn factory(
    name: cage::RuntimeName,
    policy: &cage::Policy,
) -> Result<Box<dyn cage::DynRuntime>, String> {
    cage::runtime_named(name, policy).map_err(|e| e.to_string())
}

fn main() {
    let seed: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let shape = cage_conformance::fuzz::Shape::of(seed);
    println!("seed {seed}: {shape:?}");
    if let (Some(out), Some(bytes)) = (
        std::env::args().nth(2),
        cage_conformance::fuzz::generate(seed),
    ) {
        std::fs::write(&out, bytes).expect("cannot write the module");
        println!("module written to {out}");
    }
    let module = match std::env::var_os("CAGE_FUZZ_MODULE") {
        Some(file) => Some(std::fs::read(file).expect("cannot read CAGE_FUZZ_MODULE")),
        None => cage_conformance::fuzz::generate(seed),
    };
    let r = cage_conformance::fuzz::run_module(seed, module, &cage::available_runtimes(), &factory);
    for (name, why) in &r.unsupported {
        println!("{name}: left out: {why}");
    }
    for (name, bug) in &r.runtime_bugs {
        println!("{name}: a declared runtime bug: {bug}");
    }
    for (name, t) in &r.traces {
        println!("{name}:");
        for s in &t.steps {
            println!(
                "  {:<12} {} fuel {:?} {}",
                s.what,
                s.outcome,
                s.fuel,
                s.message.as_deref().unwrap_or("")
            );
        }
        println!("  output {:?}", t.output);
        println!("  files {:?}", t.files);
    }
    println!("divergence: {:?}", r.divergence);
}
