//! Prints what each runtime did with one fuzzing seed's module, step by step:
//! `cargo run --release -p cage-conformance --example fuzz_seed -- SEED`.

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
    let r = cage_conformance::fuzz::run_seed(seed, &cage::available_runtimes(), &factory);
    for (name, why) in &r.unsupported {
        println!("{name}: left out: {why}");
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
