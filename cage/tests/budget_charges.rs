//! What Cage starts or opens for guests is charged to the process budget while it lives and
//! given back when it goes: a runtime's deadline thread, a guest thread of
//! `on_guest_thread`, and Wasmtime's copy-on-write memory image (a memfd per module with data,
//! under `memory_reservation = "full"`); a budget with no thread left refuses a guest thread
//! with a typed rejection; descriptors the application opens count as others' once measured.
//! (Its own test binary: the budget is process-wide.)

use std::time::Duration;

use cage::{HostFunctions, Invocation, Policy, Rejection, process_usage};

const GUEST: &str = r#"(module (memory 1) (data (i32.const 0) "\2a")
    (func (export "get") (result i32) (i32.load8_u (i32.const 0))))"#;

#[test]
fn threads_and_descriptors_spent_for_guests_are_charged_and_given_back() {
    let bytes = wat::parse_str(GUEST).unwrap();
    let host = HostFunctions::new();
    for name in cage::available_runtimes() {
        // A runtime with a deadline holds its pacer thread.
        let before = process_usage().threads;
        let policy = Policy::default().with_timeout(Some(Duration::from_secs(1)));
        let rt = cage::runtime_named(name, &policy).unwrap();
        assert_eq!(
            process_usage().threads,
            before + 1,
            "{name}: deadline thread"
        );
        drop(rt);
        assert_eq!(
            process_usage().threads,
            before,
            "{name}: deadline thread given back"
        );

        // A guest thread, while it runs.
        let inside = cage::on_guest_thread(&policy, || process_usage().threads).unwrap();
        assert_eq!(inside, before + 1, "{name}: guest thread");
        assert_eq!(
            process_usage().threads,
            before,
            "{name}: guest thread given back"
        );

        // Wasmtime's memory image: one descriptor per module with data, for the module's life.
        let policy =
            Policy::default().with_memory_reservation(cage::policy::MemoryReservation::Full);
        let rt = cage::runtime_named(name, &policy).unwrap();
        let checked = cage::prepare(rt.as_ref(), &bytes, &host, &Invocation::Instantiate).unwrap();
        let descriptors = process_usage().descriptors;
        let module = rt.compile_dyn(&checked, &host).unwrap();
        let images = u64::from(name == cage::RuntimeName::Wasmtime);
        assert_eq!(
            process_usage().descriptors,
            descriptors + images,
            "{name}: memory image"
        );
        let mut sb = module.sandbox().unwrap();
        sb.instantiate().unwrap();
        assert_eq!(sb.call("get", &[]).unwrap(), [cage::Value::I32(42)]);
        drop(sb);
        drop(module);
        drop(rt);
        assert_eq!(
            process_usage().descriptors,
            descriptors,
            "{name}: memory image given back"
        );
    }

    // Descriptors the application holds shrink Cage's headroom once measured.
    cage::budget::remeasure();
    let before = process_usage().others.descriptors;
    let held: Vec<std::fs::File> = (0..200)
        .map(|_| std::fs::File::open("/dev/null").unwrap())
        .collect();
    cage::budget::remeasure();
    let after = process_usage().others.descriptors;
    assert!(
        after >= before + 200,
        "the application's 200 descriptors: others {before} -> {after}"
    );
    drop(held);

    // No thread left: a guest thread is refused, typed, and nothing runs.
    let default = cage::process_budget();
    let used = process_usage();
    cage::set_process_budget(default.with_threads(used.threads));
    let ran = std::sync::atomic::AtomicBool::new(false);
    let e = cage::on_guest_thread(&Policy::default(), || {
        ran.store(true, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap_err();
    cage::set_process_budget(default);
    assert_eq!(e.as_rejection(), Some(Rejection::LimitExceeded), "{e:?}");
    assert!(!ran.into_inner());
    assert!(e.to_string().contains("threads"), "{e}");
}
