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
            // One thread takes all five slots: its own shard's, then the other's.
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

/// Both shards (max_instances 2: one slot each, so one thread's two sandboxes are on both)
/// make, instantiate and call a sandbox.
fn on_both_shards(module: &dyn cage::DynModule, what: &str) {
    let mut a = module.sandbox().unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut b = module.sandbox().unwrap_or_else(|e| panic!("{what}: {e}"));
    for sb in [&mut a, &mut b] {
        sb.instantiate().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            sb.call("run", &[Value::I32(1)]).unwrap(),
            [Value::I32(43)],
            "{what}"
        );
    }
}

/// A module compiled again (each shard's memory cache answers), or found in a warm disk cache,
/// is used by each shard with its own code: a shard never takes another's (on Wasmtime that
/// failed as a cross-engine instantiation; on Wasmer every shard ran on the first one's engine).
#[test]
fn every_shard_uses_its_own_code_from_memory_and_disk_caches() {
    let bytes = wat::parse_str(GUEST).unwrap();
    let host = HostFunctions::new();
    for name in cage::available_runtimes() {
        let mut policy = Policy::default();
        policy.limits.max_instances = 2;
        let dir = tempfile::tempdir().unwrap();
        let key = [7u8; 32];
        let make = || {
            let rt = cage::runtime_sharded(name, &policy, 2).unwrap();
            rt.set_disk_cache(Some(
                cage::DiskCache::open(dir.path().join("cache"), cage::HmacKey::from_bytes(key))
                    .unwrap(),
            ));
            rt
        };
        cage::on_guest_thread(&policy, || {
            let rt = make();
            on_both_shards(rt.compile(&bytes, &host).unwrap().as_ref(), "first compile");
            on_both_shards(rt.compile(&bytes, &host).unwrap().as_ref(), "memory cache");
            for _ in 0..2 {
                let r = cage::run(
                    rt.as_ref(),
                    &bytes,
                    &host,
                    &cage::Invocation::call("run", [Value::I32(1)]),
                );
                assert_eq!(
                    r.outcome(),
                    cage::Outcome::Returned(vec![Value::I32(43)]),
                    "{r:?}"
                );
            }
            // A new sharded runtime over the warm disk cache.
            let warm = make();
            on_both_shards(warm.compile(&bytes, &host).unwrap().as_ref(), "disk cache");
            assert!(
                warm.cache_stats().disk_hits >= 1,
                "{name}: {:?}",
                warm.cache_stats()
            );
        })
        .unwrap();
    }
}
