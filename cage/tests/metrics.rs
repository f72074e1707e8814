//! Per-call metrics through the `metrics` facade, seen by a test recorder, on every runtime.
//! (Its own binary: the recorder is process-wide.)

use cage::{HostFunctions, Invocation, Policy, Value};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[test]
fn every_call_counts_by_outcome_with_fuel_time_and_memory() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();
    cage::enable_metrics(true);
    let bytes = wat::parse_str(
        r#"(module (memory 1)
            (func (export "ok") (result i32) (i32.const 7))
            (func (export "spin") (loop br 0)))"#,
    )
    .unwrap();
    for name in cage::available_runtimes() {
        let policy = Policy::default().with_fuel(Some(10_000));
        let rt = cage::runtime_named(name, &policy).unwrap();
        let host = HostFunctions::new();
        let checked = cage::prepare(rt.as_ref(), &bytes, &host, &Invocation::Instantiate).unwrap();
        let m = rt.compile_dyn(&checked, &host).unwrap();
        let mut sb = m.sandbox().unwrap();
        sb.instantiate().unwrap();
        assert_eq!(sb.call("ok", &[]).unwrap(), [Value::I32(7)]);
        assert!(sb.call("spin", &[]).is_err());
    }
    let snapshot = snapshotter.snapshot().into_vec();
    let module: String = checked_sha(&bytes).chars().take(12).collect();
    for name in cage::available_runtimes() {
        let rt = name.as_str();
        let count = |outcome: &str, kind: &str| {
            snapshot
                .iter()
                .find(|(k, _, _, _)| {
                    let key = k.key();
                    let label = |n: &str| {
                        key.labels()
                            .find(|l| l.key() == n)
                            .map(|l| l.value().to_owned())
                    };
                    key.name() == "cage_calls_total"
                        && label("runtime").as_deref() == Some(rt)
                        && label("module").as_deref() == Some(module.as_str())
                        && label("outcome").as_deref() == Some(outcome)
                        && label("kind").as_deref() == Some(kind)
                })
                .map(|(_, _, _, v)| match v {
                    DebugValue::Counter(c) => *c,
                    _ => 0,
                })
        };
        // instantiate + `ok` returned; `spin` ran out of fuel.
        assert_eq!(count("returned", "none"), Some(2), "{rt}");
        assert_eq!(count("trapped", "out_of_fuel"), Some(1), "{rt}");
        for h in [
            "cage_call_fuel",
            "cage_call_seconds",
            "cage_peak_memory_bytes",
        ] {
            let values = snapshot
                .iter()
                .find(|(k, _, _, _)| {
                    k.key().name() == h
                        && k.key()
                            .labels()
                            .any(|l| l.key() == "runtime" && l.value() == rt)
                })
                .map(|(_, _, _, v)| match v {
                    DebugValue::Histogram(v) => v.len(),
                    _ => 0,
                });
            assert_eq!(values, Some(3), "{h} on {rt}");
        }
        let fuel: Vec<f64> = snapshot
            .iter()
            .filter(|(k, _, _, _)| {
                k.key().name() == "cage_call_fuel"
                    && k.key()
                        .labels()
                        .any(|l| l.key() == "runtime" && l.value() == rt)
            })
            .flat_map(|(_, _, _, v)| match v {
                DebugValue::Histogram(v) => v.iter().map(|x| x.into_inner()).collect(),
                _ => Vec::new(),
            })
            .collect();
        assert!(
            fuel.iter().any(|f| *f >= 9_990.0),
            "{rt}: the spin call's fuel: {fuel:?}"
        );
    }
}

fn checked_sha(bytes: &[u8]) -> String {
    cage::module::describe(bytes).unwrap().sha256
}
