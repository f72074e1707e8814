//! `cage::runtime_sharded`: several runtimes of one policy behind one `DynRuntime`, a thread's
//! sandboxes on its own shard. The cap (`max_instances`) holds for the whole, a full shard's
//! thread uses another, and guests behave exactly as on one runtime (outcome and fuel).

use cage::{HostFunctions, Policy, Rejection, Value};

const GUEST: &str = r#"(module (memory 1) (data (i32.const 0) "\2a")
    (func (export "run") (param i32) (result i32)
      (i32.add (local.get 0) (i32.load8_u (i32.const 0)))))"#;

#[test]
fn policies_split_max_instances_exactly() {
    let mut policy = Policy::default();
    policy.limits.max_instances = 7;
    let parts: Vec<u32> = cage::shard_policies(&policy, 3)
        .iter()
        .map(|p| p.limits.max_instances)
        .collect();
    assert_eq!(parts, [3, 2, 2]);
    policy.limits.max_instances = 2;
    assert_eq!(
        cage::shard_policies(&policy, 4).len(),
        2,
        "one shard per instance at most"
    );
}

#[test]
fn the_cap_holds_for_the_whole_and_full_shards_lend_to_others() {
    for name in cage::available_runtimes() {
        let mut policy = Policy::default().with_fuel(Some(1_000_000));
        policy.limits.max_instances = 5;
        let rt = cage::runtime_sharded(name, &policy, 2).expect("a sharded runtime");
        assert_eq!(rt.policy().limits.max_instances, 5, "{name}");
        let module = rt
            .compile(&wat::parse_str(GUEST).unwrap(), &HostFunctions::new())
            .unwrap();
        let plain = cage::runtime_named(name, &policy).unwrap();
        let reference = {
            let m = plain
                .compile(&wat::parse_str(GUEST).unwrap(), &HostFunctions::new())
                .unwrap();
            let mut sb = m.sandbox().unwrap();
            sb.instantiate().unwrap();
            assert_eq!(sb.call("run", &[Value::I32(1)]).unwrap(), [Value::I32(43)]);
            sb.stats().fuel_consumed
        };
        cage::on_guest_thread(&policy, || {
            // One thread takes all five slots: its shard's three, then the other's two.
            let mut live: Vec<_> = (0..5)
                .map(|i| {
                    let mut sb = module
                        .sandbox()
                        .unwrap_or_else(|e| panic!("{name}: sandbox {i}: {e}"));
                    sb.instantiate().unwrap();
                    assert_eq!(sb.call("run", &[Value::I32(1)]).unwrap(), [Value::I32(43)]);
                    assert_eq!(sb.stats().fuel_consumed, reference, "{name}");
                    sb
                })
                .collect();
            let e = module.sandbox().err().expect("a sixth is refused");
            assert_eq!(
                e.as_rejection(),
                Some(Rejection::LimitExceeded),
                "{name}: {e}"
            );
            live.pop();
            let mut again = module.sandbox().expect("a slot is free again");
            again.instantiate().unwrap();
            // Another thread, whose shard may be the full one, is refused as well.
            std::thread::scope(|s| {
                s.spawn(|| {
                    let e = module.sandbox().err().expect("still full");
                    assert_eq!(e.as_rejection(), Some(Rejection::LimitExceeded), "{name}");
                });
            });
        })
        .unwrap();
        // Both shards compiled the module: two cache misses.
        assert_eq!(rt.cache_stats().misses, 2, "{name}");
    }
}
