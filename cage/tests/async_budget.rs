//! A native async sandbox's fiber stack is charged to the process budget with it, and a
//! sandbox whose stack does not fit is refused with a typed rejection, never made without a
//! limit. (Its own test binary: the budget is process-wide.)
#![cfg(feature = "async")]

use cage::{AsyncSandbox, HostFunctions, Policy, ProcessBudget, Rejection, RuntimeName, Value};

#[test]
fn fiber_stacks_are_charged_to_the_process_budget_and_refused_past_it() {
    if !cage::available_runtimes().contains(&RuntimeName::Wasmtime) {
        return;
    }
    let default = cage::process_budget();
    // Large stacks, so that the stack's share stands out; threads allowed, so that Wasmtime
    // uses its on-demand allocator (a pool reserves its stacks up front, with the runtime).
    let mut policy = Policy::default().with_fuel(None);
    policy.limits.max_stack = cage::Size::mib(32);
    policy.features = policy.features.with(cage::Proposal::Threads, true);
    let rt = cage::runtime_named(RuntimeName::Wasmtime, &policy).unwrap();
    assert!(rt.capabilities().native_async);
    let wasm =
        wat::parse_str(r#"(module (func (export "one") (result i32) i32.const 1))"#).unwrap();
    let module = rt.compile(&wasm, &HostFunctions::new()).unwrap();
    let exec = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let stack = (32u64 << 20) + (2 << 20);

    let before = cage::process_usage();
    let sync = module.sandbox().unwrap();
    let sync_cost = cage::process_usage().address_space - before.address_space;
    let sync_maps = cage::process_usage().mappings - before.mappings;
    drop(sync);

    let before = cage::process_usage();
    let mut sb = exec.block_on(AsyncSandbox::new(module.as_ref())).unwrap();
    assert!(sb.is_native());
    let cost = cage::process_usage().address_space - before.address_space;
    let maps = cage::process_usage().mappings - before.mappings;
    assert!(cost >= sync_cost + stack, "{cost} < {sync_cost} + {stack}");
    assert!(maps >= sync_maps + 2, "{maps} mappings");
    exec.block_on(async {
        sb.instantiate().await.unwrap();
        assert_eq!(sb.call("one", &[]).await.unwrap(), [Value::I32(1)]);
    });
    drop(sb);
    let after = cage::process_usage();
    assert_eq!(after.address_space, before.address_space, "given back");

    // Room for a sync sandbox and half a stack: the async sandbox is refused, typed.
    cage::budget::remeasure();
    let used = cage::process_usage();
    cage::set_process_budget(ProcessBudget::new(
        default.sandboxes,
        used.address_space + used.others.address_space + sync_cost + stack / 2,
        default.mappings,
    ));
    let e = exec
        .block_on(AsyncSandbox::new(module.as_ref()))
        .unwrap_err();
    assert_eq!(e.as_rejection(), Some(Rejection::LimitExceeded), "{e:?}");
    assert!(
        e.message().unwrap_or_default().contains("process budget"),
        "{e}"
    );
    // A sync sandbox still fits.
    let mut sb = module.sandbox().unwrap();
    sb.instantiate().unwrap();
    cage::set_process_budget(default);
}
