//! The WebAssembly 2.0 spec testsuite through Cage's API: one test per `.wast` file × runtime.
//! A test fails when a directive fails that `spec-known-failures.toml` does not list, or a
//! listed one passes. `cargo test -p cage-conformance --test spec -- i32` runs a subset.

use std::collections::BTreeMap;
use std::sync::Arc;

use cage_conformance::spec::{
    SpecOutcome, all_spec_files, known_failures, run_spec_file, run_spec_file_with,
    spec_policy_for, spec_policy_metered,
};
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
    for file in all_spec_files() {
        for rt in cage::available_runtimes() {
            let (file, known) = (file.clone(), known.clone());
            let name = format!("{}::{rt}", file.id().trim_end_matches(".wast"));
            trials.push(Trial::test(name, move || {
                let result = cage::on_guest_thread(&spec_policy_for(file.features), || {
                    run_spec_file(&file, rt, &factory)
                })
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
    // The second configuration: every file metered on every runtime, passing as unmetered, and
    // every `assert_return` consuming the same fuel on every runtime that runs it.
    for file in all_spec_files() {
        let known = known.clone();
        let name = format!("{}::metered", file.id().trim_end_matches(".wast"));
        trials.push(Trial::test(name, move || {
            let policy = spec_policy_metered(file.features);
            let mut results = Vec::new();
            for rt in cage::available_runtimes() {
                let r = cage::on_guest_thread(&policy, || {
                    run_spec_file_with(&file, rt, &factory, &policy)
                })
                .map_err(|e| Failed::from(e.to_string()))?;
                results.push(r);
            }
            let mut problems: Vec<String> = results
                .iter()
                .flat_map(|r| {
                    r.unexpected(&known)
                        .into_iter()
                        .map(move |u| format!("{}: {u}", r.runtime))
                })
                .collect();
            let mut fuel: BTreeMap<usize, Vec<(cage::RuntimeName, u64)>> = BTreeMap::new();
            for r in &results {
                for d in &r.directives {
                    if d.kind != "assert_return" || d.outcome != SpecOutcome::Pass {
                        continue;
                    }
                    match d.fuel {
                        Some(f) => fuel.entry(d.line).or_default().push((r.runtime, f)),
                        // A passing call on an instance made by a metered runtime has a count,
                        // except `(get …)` of a global, which calls nothing.
                        None if !file
                            .text
                            .lines()
                            .nth(d.line - 1)
                            .is_some_and(|l| l.contains("(get ")) =>
                        {
                            problems.push(format!(
                                "{}: {}:{} assert_return passed without a fuel count",
                                r.runtime, file.name, d.line
                            ));
                        }
                        None => {}
                    }
                }
            }
            for (line, seen) in fuel {
                if seen.windows(2).any(|w| w[0].1 != w[1].1) {
                    problems.push(format!(
                        "{}:{line} assert_return: fuel differs: {seen:?}",
                        file.name
                    ));
                }
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(Failed::from(problems.join("\n")))
            }
        }));
    }
    libtest_mimic::run(&args, trials).exit();
}
