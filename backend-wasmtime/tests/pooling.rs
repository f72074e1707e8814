//! The pooling allocator trades no isolation for speed: a guest instantiated in a slot another
//! guest used sees fresh memory (zeros beyond its data segments, its initial size), fresh tables
//! and fresh globals, whether the slot last held the same module or another one. The pool is
//! sized to one instance here, so every instantiation reuses the same slot.

use cage_conformance::backend_tests::assert_fresh_memory;
use cage_core::policy::MemoryReservation;
use cage_core::{HostFunctions, Policy, Rejection, Runtime, Value};
use cage_wasmtime::{Allocator, Wasmtime};

/// Writes a secret everywhere it can: memory inside the initial pages and in a grown page, a
/// table slot, a mutable global.
const WRITER: &str = r#"(module
    (memory (export "memory") 1)
    (table 4 funcref)
    (global $g (mut i32) (i32.const 0))
    (data (i32.const 0) "hello")
    (func $f)
    (elem declare func $f)
    (func (export "write_secrets")
        (drop (memory.grow (i32.const 1)))
        (i32.store (i32.const 1000) (i32.const 0x5ec2e7))
        (i32.store (i32.const 65532) (i32.const 0x5ec2e7))
        (i32.store (i32.const 70000) (i32.const 0x5ec2e7))
        (table.set (i32.const 2) (ref.func $f))
        (global.set $g (i32.const 0x5ec2e7)))
    (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
    (func (export "pages") (result i32) (memory.size))
    (func (export "table_null") (param i32) (result i32) (ref.is_null (table.get (local.get 0))))
    (func (export "global") (result i32) (global.get $g)))"#;

/// Another module of the same shape that only reads.
const READER: &str = r#"(module
    (memory (export "memory") 1)
    (table 4 funcref)
    (global $g (mut i32) (i32.const 0))
    (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
    (func (export "pages") (result i32) (memory.size))
    (func (export "table_null") (param i32) (result i32) (ref.is_null (table.get (local.get 0))))
    (func (export "global") (result i32) (global.get $g)))"#;

/// Both reservations: `"full"` (4 GiB slots, data mapped copy-on-write) and `"max_memory"`
/// (small slots, data copied in).
const RESERVATIONS: [MemoryReservation; 2] =
    [MemoryReservation::Full, MemoryReservation::MaxMemory];

fn runtime() -> Runtime<Wasmtime> {
    runtime_of(1, MemoryReservation::Full)
}

fn runtime_of(instances: u32, reservation: MemoryReservation) -> Runtime<Wasmtime> {
    let mut policy = Policy::default().with_memory_reservation(reservation);
    policy.limits.max_instances = instances;
    let rt = cage_wasmtime::runtime(&policy).unwrap();
    assert_eq!(
        cage_core::backend::backend_of(&rt).allocator(),
        Allocator::Pooling
    );
    rt
}

fn i32_of(v: Vec<Value>) -> i32 {
    match v.as_slice() {
        [Value::I32(x)] => *x,
        other => panic!("expected one i32, got {other:?}"),
    }
}

/// Asserts that a sandbox sees nothing of an earlier tenant: memory (the module's `data` at 0),
/// tables, globals.
fn assert_fresh(sb: &mut cage_core::Sandbox<Wasmtime>, data: &[u8]) {
    assert_fresh_memory(sb, data, "a reused slot");
    for i in 0..4 {
        assert_eq!(
            i32_of(sb.call("table_null", &[Value::I32(i)]).unwrap()),
            1,
            "table[{i}]"
        );
    }
    assert_eq!(i32_of(sb.call("global", &[]).unwrap()), 0, "global");
}

#[test]
fn a_reused_slot_shows_nothing_of_the_previous_guest() {
    for reservation in RESERVATIONS {
        reused_slot(runtime_of(1, reservation));
    }
}

fn reused_slot(rt: Runtime<Wasmtime>) {
    let writer = rt
        .compile(&wat::parse_str(WRITER).unwrap(), &HostFunctions::new())
        .unwrap();
    let reader = rt
        .compile(&wat::parse_str(READER).unwrap(), &HostFunctions::new())
        .unwrap();
    for _ in 0..3 {
        // The same module in the slot it used before (Wasmtime keeps its image mapped there).
        let mut sb = writer.sandbox().unwrap();
        sb.instantiate().unwrap();
        assert_fresh(&mut sb, b"hello");
        sb.call("write_secrets", &[]).unwrap();
        assert_eq!(
            i32_of(sb.call("load", &[Value::I32(70000)]).unwrap()),
            0x5ec2e7
        );
        assert_eq!(i32_of(sb.call("table_null", &[Value::I32(2)]).unwrap()), 0);
        drop(sb);

        let mut sb = writer.sandbox().unwrap();
        sb.instantiate().unwrap();
        assert_fresh(&mut sb, b"hello");
        sb.call("write_secrets", &[]).unwrap();
        drop(sb);

        // Another module in the same slot.
        let mut sb = reader.sandbox().unwrap();
        sb.instantiate().unwrap();
        assert_fresh(&mut sb, b"");
    }
}

#[test]
fn batched_slot_resets_never_hand_out_a_dirty_slot() {
    // Four slots, reset in batches of four: sandboxes come and go in every interleaving of
    // slots waiting for their reset, reused, and cold.
    for reservation in RESERVATIONS {
        batched_resets(runtime_of(4, reservation));
    }
}

fn batched_resets(rt: Runtime<Wasmtime>) {
    let writer = rt
        .compile(&wat::parse_str(WRITER).unwrap(), &HostFunctions::new())
        .unwrap();
    let reader = rt
        .compile(&wat::parse_str(READER).unwrap(), &HostFunctions::new())
        .unwrap();
    let mut live = Vec::new();
    for i in 0..64 {
        if i % 3 == 0 {
            let mut sb = reader.sandbox().unwrap();
            sb.instantiate().unwrap();
            assert_fresh(&mut sb, b"");
        } else {
            let mut sb = writer.sandbox().unwrap();
            sb.instantiate().unwrap();
            assert_fresh(&mut sb, b"hello");
            sb.call("write_secrets", &[]).unwrap();
            live.push(sb);
        }
        if live.len() >= 3 || (i % 5 == 0 && !live.is_empty()) {
            live.remove(0);
        }
    }
}

#[test]
fn one_sandbox_more_than_the_pool_holds_is_a_typed_rejection() {
    let rt = runtime();
    let m = rt
        .compile(&wat::parse_str(READER).unwrap(), &HostFunctions::new())
        .unwrap();
    let mut a = m.sandbox().unwrap();
    a.instantiate().unwrap();
    let e = m.sandbox().unwrap_err();
    assert_eq!(e.as_rejection(), Some(Rejection::LimitExceeded), "{e:?}");
    drop(a);
    let mut b = m.sandbox().unwrap();
    b.instantiate().unwrap();
}

#[test]
fn policies_the_pool_cannot_hold_use_the_on_demand_allocator() {
    let mut threads = Policy::default();
    threads.features = threads.features.with(cage_core::Proposal::Threads, true);
    let mut big_memory = Policy::default();
    big_memory.limits.max_memory = cage_core::Size::gib(8);
    let mut many = Policy::default();
    many.limits.max_instances = 10_000;
    many.limits.max_memories = 16;
    for (what, policy) in [
        ("threads", threads),
        ("8 GiB memories", big_memory),
        ("160 000 memories", many),
    ] {
        assert!(Wasmtime::pooling_refused(&policy).is_some(), "{what}");
        let rt = cage_wasmtime::runtime(&policy).unwrap();
        assert_eq!(
            cage_core::backend::backend_of(&rt).allocator(),
            Allocator::OnDemand,
            "{what}"
        );
    }
    assert_eq!(Wasmtime::pooling_refused(&Policy::default()), None);
}

/// A full pool under churn from two threads admits every sandbox core's cap admits. The pool
/// resets freed slots in batches, and a thread that found it full while another thread was
/// resetting a batch used to be refused `limit_exceeded` (1–2 of 1 000 guests made at once):
/// the backend tries such an instantiation again in a new store.
#[test]
fn a_full_pool_under_churn_admits_what_the_cap_admits() {
    let rt = runtime_of(8, MemoryReservation::Full);
    let m = rt
        .compile(&wat::parse_str(WRITER).unwrap(), &HostFunctions::new())
        .unwrap();
    let refused = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                // Four live sandboxes per thread (the pool's eight), one replaced at a time.
                let mut live = std::collections::VecDeque::new();
                for _ in 0..3_000 {
                    if live.len() == 4 {
                        live.pop_front();
                    }
                    // Core's cap admits it: at most seven others are alive.
                    let mut sb = m.sandbox().expect("core's cap admits it");
                    match sb.instantiate() {
                        Ok(()) => {
                            sb.call("write_secrets", &[]).unwrap();
                            live.push_back(sb);
                        }
                        Err(e) => {
                            assert_eq!(e.as_rejection(), Some(Rejection::LimitExceeded), "{e:?}");
                            refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    assert_eq!(refused.into_inner(), 0, "instantiations the pool refused");
}
