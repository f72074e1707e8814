//! The WebAssembly 2.0 spec testsuite through Cage's API: one test per `.wast` file × runtime.
//! A test fails when a directive fails that `spec-known-failures.toml` does not list, or a
//! listed one passes. `cargo test -p cage-conformance --test spec -- i32` runs a subset.

use std::sync::Arc;

use cage_conformance::spec::{known_failures, run_spec_file, spec_files, spec_policy};
use libtest_mimic::{Arguments, Failed, Trial};

fn factory(
    name: cage::RuntimeName,
    policy: &cage::Policy,
) -> Result<Box<dyn cage::DynRuntime>, String> {
    cage::runtime_named(name, policy).map_err(|e| e.to_string())
}

fn main() {
    let args = Arguments::from_args();
    let known = Arc::new(known_failures());
    let mut trials = Vec::new();
    for file in spec_files() {
        for rt in cage::available_runtimes() {
            let (file, known) = (file.clone(), known.clone());
            let name = format!("{}::{rt}", file.name.trim_end_matches(".wast"));
            trials.push(Trial::test(name, move || {
                let result =
                    cage::on_guest_thread(&spec_policy(), || run_spec_file(&file, rt, &factory))
                        .map_err(|e| Failed::from(e.to_string()))?;
                if result.directives.is_empty() {
                    return Err(Failed::from("no directive ran"));
                }
                let unexpected = result.unexpected(&known);
                if unexpected.is_empty() {
                    Ok(())
                } else {
                    Err(Failed::from(unexpected.join("\n")))
                }
            }));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
