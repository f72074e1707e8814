//! The process budget refuses the sandbox that would not fit with a typed rejection, before
//! anything is mapped, on every runtime; sandboxes already held keep working, and so do new
//! threads. (Its own test binary: the budget is process-wide.)

use cage::{
    DynRuntime, HostFunctions, Invocation, Policy, ProcessBudget, Rejection, Value, process_usage,
    set_process_budget,
};

const GUEST: &str = r#"(module (memory 1) (data (i32.const 0) "\2a")
    (func (export "get") (result i32) (i32.load8_u (i32.const 0))))"#;

fn module(rt: &dyn DynRuntime) -> Box<dyn cage::DynModule> {
    let bytes = wat::parse_str(GUEST).unwrap();
    let host = HostFunctions::new();
    let checked = cage::prepare(rt, &bytes, &host, &Invocation::Instantiate).unwrap();
    rt.compile_dyn(&checked, &host).unwrap()
}

fn works(sb: &mut Box<dyn cage::DynSandbox>) {
    assert_eq!(sb.call("get", &[]).unwrap(), [Value::I32(42)]);
}

/// Fills the budget with `held` sandboxes of `m` (`None`: as many as fit, at most 10 000),
/// checks the next is refused naming `what`, that the held ones and a new thread still work,
/// and that dropping one makes room.
fn exercise(m: &dyn cage::DynModule, held: Option<usize>, what: &str) {
    let mut sandboxes = Vec::new();
    let e = loop {
        if held == Some(sandboxes.len()) {
            let Err(e) = m.sandbox() else {
                panic!(
                    "a sandbox past the budget was made ({what}): {:?} of {:?}",
                    process_usage(),
                    cage::process_budget()
                )
            };
            break e;
        }
        match m.sandbox() {
            Ok(mut sb) => {
                sb.instantiate().unwrap();
                sandboxes.push(sb);
            }
            Err(e) if held.is_none() => break e,
            Err(e) => panic!("refused after {} of {held:?}: {e}", sandboxes.len()),
        }
        assert!(sandboxes.len() < 10_000, "no refusal ({what})");
    };
    assert!(!sandboxes.is_empty(), "nothing fit ({what})");
    assert_eq!(e.as_rejection(), Some(Rejection::LimitExceeded), "{e:?}");
    let msg = e.message().unwrap_or_default();
    assert!(
        msg.contains("process budget") && msg.contains(what),
        "{msg}"
    );
    for sb in &mut sandboxes {
        works(sb);
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            let Err(e) = m.sandbox() else {
                panic!("a sandbox past the budget was made on a new thread")
            };
            assert_eq!(e.as_rejection(), Some(Rejection::LimitExceeded));
        });
    });
    sandboxes.pop();
    let mut sb = m.sandbox().unwrap();
    sb.instantiate().unwrap();
    works(&mut sb);
}

#[test]
fn the_process_budget_refuses_with_a_typed_rejection_and_nothing_breaks() {
    let default = cage::process_budget();
    for name in cage::available_runtimes() {
        // Live sandboxes, whatever each costs.
        let rt = cage::runtime_named(name, &Policy::default()).unwrap();
        let m = module(rt.as_ref());
        let used = process_usage();
        set_process_budget(ProcessBudget::new(
            used.sandboxes + 3,
            default.address_space,
            default.mappings,
        ));
        exercise(m.as_ref(), Some(3), "sandboxes");
        set_process_budget(default);

        // Address space, on a runtime that reserves per sandbox (Wasmtime with threads allowed
        // uses its on-demand allocator).
        let mut policy = Policy::default();
        policy.features = policy.features.with(cage::Proposal::Threads, true);
        let rt = cage::runtime_named(name, &policy).unwrap();
        let m = module(rt.as_ref());
        let before = process_usage();
        let mut one = m.sandbox().unwrap();
        let per_sandbox = process_usage().address_space - before.address_space;
        assert!(
            per_sandbox >= 1 << 30,
            "{name}: {per_sandbox} bytes per sandbox"
        );
        one.instantiate().unwrap();
        works(&mut one);
        drop(one);
        // What the rest of the process holds counts against the budget too.
        cage::budget::remeasure();
        let used = process_usage();
        set_process_budget(ProcessBudget::new(
            default.sandboxes,
            used.address_space + used.others.address_space + 2 * per_sandbox + (per_sandbox / 2),
            default.mappings,
        ));
        // About two sandboxes fit (Cage's charges are upper bounds, and a refusal is judged
        // again on a fresh measurement, which may find a little more room).
        exercise(m.as_ref(), None, "address space");
        set_process_budget(default);

        // Mappings, with memories reserved at `max_memory` (Wasmtime pools them): every sandbox
        // is charged its mappings, pooled or not (a pool's slots as they are first touched, and
        // for as long as the pool lives), so the kernel's `vm.max_map_count` is never what
        // refuses.
        let policy =
            Policy::default().with_memory_reservation(cage::policy::MemoryReservation::MaxMemory);
        let rt = cage::runtime_named(name, &policy).unwrap();
        let m = module(rt.as_ref());
        let warm = m.sandbox().unwrap();
        let before = process_usage();
        let one = m.sandbox().unwrap();
        let per_sandbox = process_usage().mappings - before.mappings;
        let bytes = process_usage().address_space - before.address_space;
        assert!(
            per_sandbox >= 2,
            "{name}: {per_sandbox} mappings per sandbox"
        );
        assert!(
            bytes < 1 << 30,
            "{name}: {bytes} bytes reserved per small sandbox"
        );
        drop(one);
        cage::budget::remeasure();
        let used = process_usage();
        set_process_budget(ProcessBudget::new(
            default.sandboxes,
            default.address_space,
            used.mappings + used.others.mappings + 20 * per_sandbox,
        ));
        exercise(m.as_ref(), None, "mappings");
        drop(warm);
        set_process_budget(default);
    }
    assert_eq!(
        process_usage().sandboxes,
        0,
        "every sandbox returned its share"
    );
}
