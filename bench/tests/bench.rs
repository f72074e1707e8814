//! The benchmark workloads run once on every target and return the right answer, so a broken
//! workload fails CI rather than a benchmark run. No timing is asserted.

use cage_bench::{Budget, Case, Group, Selection, Source, plan, report, workloads};

/// Sets a case up (which checks its first result) and runs a smoke measurement (which checks
/// three more).
fn run_once(case: &Case) {
    let summary = case
        .prepare(&mut |iter| cage_bench::measure(iter, &Budget::smoke()))
        .unwrap_or_else(|e| panic!("{} on {}: {e}", case.id(), case.target.name()))
        .unwrap_or_else(|e| panic!("{} on {}: {e}", case.id(), case.target.name()));
    assert_eq!(summary.samples, 3);
}

#[test]
fn expected_results_are_the_known_answers() {
    assert_eq!(workloads::fib(20), 6765);
    assert_eq!(workloads::fib(workloads::FIB_N), 196_418);
    assert_eq!(workloads::sieve(100), 25);
    assert_eq!(workloads::sieve(workloads::SIEVE_N), 78_498);
    // a·b summed: Σ_ij Σ_k (i+k)(k-j), checked against the closed form for a small n.
    let n = 5i64;
    let mut sum = 0i64;
    for i in 0..n {
        for j in 0..n {
            for k in 0..n {
                sum += (i + k) * (k - j);
            }
        }
    }
    assert_eq!(i64::from(workloads::matmul(5)), sum);
    assert_eq!(workloads::indirect(0), 1);
}

#[test]
fn every_execution_workload_returns_its_answer_on_every_target() {
    // Every case but compiling the large module (covered below without the slow compiles) and
    // the batches of guests (their own test below).
    let cases: Vec<Case> = plan(&Selection::default())
        .into_iter()
        .filter(|c| c.workload.source != Source::Large && c.workload.group != Group::Async)
        .collect();
    let targets: Vec<String> = cage_bench::all_targets().iter().map(|t| t.name()).collect();
    for t in &targets {
        assert!(
            cases.iter().any(|c| c.target.name() == *t),
            "no case runs on {t}"
        );
    }
    let policy = cage::Policy::default();
    cage::on_guest_thread(&policy, || {
        for case in &cases {
            run_once(case);
        }
    })
    .expect("a guest thread");
}

#[test]
fn the_large_module_is_large_and_valid() {
    let bytes = Source::Large.binary().unwrap();
    assert!(bytes.len() >= 1 << 20, "only {} bytes", bytes.len());
    let checked = cage::check(&bytes, &cage::Policy::default()).unwrap();
    assert_eq!(
        checked.info().exports.len(),
        workloads::LARGE_FUNCTIONS,
        "one export per function"
    );
}

#[test]
fn plan_filters_and_selects_runtimes() {
    let fib = plan(&Selection {
        runtimes: vec!["wasmtime".into()],
        filter: Some("kernel/fib/".into()),
        ..Selection::default()
    });
    let names: Vec<(String, String)> = fib.iter().map(|c| (c.id(), c.target.name())).collect();
    assert_eq!(
        names,
        [
            ("kernel/fib/plain", "wasmtime"),
            ("kernel/fib/plain", "raw-wasmtime"),
            ("kernel/fib/fuel", "wasmtime"),
            ("kernel/fib/deadline", "wasmtime"),
            ("kernel/fib/fuel+deadline", "wasmtime"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let compile = plan(&Selection {
        runtimes: vec!["native".into()],
        filter: Some("compile".into()),
        ..Selection::default()
    });
    assert!(compile.is_empty(), "native compiles nothing");
    assert!(
        plan(&Selection::default())
            .iter()
            .all(|c| c.workload.group != Group::Compile || c.limits.name() == "plain")
    );
}

/// `async/many-guests` on every runtime, both APIs: a batch of guests all complete on two
/// executor threads, and a batch takes at least its ideal (everyone sleeps 10 ms and computes).
#[test]
fn many_guests_batches_complete_on_every_runtime() {
    let cases = plan(&Selection {
        filter: Some("async/many-guests".into()),
        quick: true,
        ..Selection::default()
    });
    let targets: Vec<String> = cases.iter().map(|c| c.target.name()).collect();
    for rt in cage::available_runtimes() {
        assert!(targets.contains(&rt.to_string()), "{rt}: {targets:?}");
    }
    assert!(
        cases
            .iter()
            .all(|c| c.target.kind() == "cage" && c.workload.arg == 1_000)
    );
    for mut case in cases {
        case.workload.arg = 40;
        let ideal = cage_bench::many_guests::ideal(40);
        let summary = case
            .prepare(&mut |iter| cage_bench::measure(iter, &Budget::smoke()))
            .unwrap_or_else(|e| panic!("{} {}: {e}", case.id(), case.target.name()))
            .unwrap_or_else(|e| panic!("{} {}: {e}", case.id(), case.target.name()));
        assert!(
            summary.min_ns >= ideal.as_nanos() as f64 * 0.5,
            "{} {}: {summary:?}",
            case.id(),
            case.target.name()
        );
    }
}

#[test]
fn reports_render_json_and_svg() {
    let cases = plan(&Selection {
        runtimes: vec!["wasmtime".into(), "native".into()],
        filter: Some("kernel/sieve/plain".into()),
        ..Selection::default()
    });
    let rows = cases
        .into_iter()
        .map(|case| {
            let summary = case
                .prepare(&mut |iter| cage_bench::measure(iter, &Budget::smoke()))
                .unwrap()
                .unwrap();
            report::Row { case, summary }
        })
        .collect();
    let results = report::Results {
        machine: report::Machine::current(),
        quick: true,
        baseline: "wasmtime".into(),
        rows,
        errors: Vec::new(),
    };
    let json = results.json();
    assert_eq!(json["schema"], report::SCHEMA);
    let first = &json["results"][0];
    assert_eq!(first["id"], "kernel/sieve/plain");
    assert_eq!(first["runtime"], "wasmtime");
    assert_eq!(first["vs_baseline"], 1.0);
    assert!(first["vs_raw"].is_number());
    assert!(first["median_ns"].as_f64().unwrap() > 0.0);
    let svg = results.svg();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("raw-wasmtime") && svg.contains("native"));
    let table = results.table();
    assert!(table.contains("Abstraction overhead"), "{table}");
}

#[test]
fn runtime_versions_match_the_lock_file() {
    let lock =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
    for (name, version) in [
        ("wasmtime", report::WASMTIME_VERSION),
        ("wasmer", report::WASMER_VERSION),
    ] {
        assert!(
            lock.contains(&format!("name = \"{name}\"\nversion = \"{version}\"\n")),
            "Cargo.lock does not resolve {name} {version}"
        );
    }
}
