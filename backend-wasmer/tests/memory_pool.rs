//! Wasmer memories reused across instances of one module (the backend's memory pool) leak
//! nothing: a guest instantiated after another one, on the same module, sees its data segments,
//! zeros everywhere else and its initial size, whether the earlier tenant wrote inside its
//! initial pages only (its mapping is zeroed and reused) or also grew (its mapping is unmapped).
//! Both compilers (Singlepass with the `singlepass` feature), both reservations.

use cage_conformance::backend_tests::assert_fresh_memory;
use cage_core::policy::MemoryReservation;
use cage_core::{HostFunctions, Invocation, Policy, Value};
use cage_wasmer::Compiler;

const GUEST: &str = r#"(module
    (memory (export "memory") 1)
    (data (i32.const 0) "hello")
    (func (export "write") (param $grow i32)
        (if (local.get $grow) (then (drop (memory.grow (i32.const 1)))))
        (i32.store (i32.const 1000) (i32.const 0x5ec2e7))
        (i32.store (i32.const 65532) (i32.const 0x5ec2e7))
        (i32.store (i32.const 0) (i32.const 0x5ec2e7)))
    (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
    (func (export "pages") (result i32) (memory.size)))"#;

fn i32_of(v: Vec<Value>) -> i32 {
    match v.as_slice() {
        [Value::I32(x)] => *x,
        other => panic!("expected one i32, got {other:?}"),
    }
}

#[test]
fn a_reused_memory_shows_nothing_of_the_previous_tenant() {
    let bytes = cage_core::module::to_binary(GUEST.as_bytes()).unwrap();
    // Singlepass with the `singlepass` feature (BUSL-1.1, off by default).
    let compilers = [Compiler::Cranelift, Compiler::Singlepass];
    for compiler in compilers.into_iter().filter(|c| c.is_compiled_in()) {
        for reservation in [MemoryReservation::Full, MemoryReservation::MaxMemory] {
            let policy = Policy::default().with_memory_reservation(reservation);
            let rt = cage_wasmer::runtime(&policy, compiler).unwrap();
            let host = HostFunctions::new();
            let checked = cage_core::prepare(&rt, &bytes, &host, &Invocation::Instantiate).unwrap();
            let module = rt.compile_checked(&checked, &host).unwrap();
            cage_core::on_guest_thread(&policy, || {
                for grow in [0, 1, 0, 0, 1, 0] {
                    let mut sb = module.sandbox().unwrap();
                    sb.instantiate().unwrap();
                    let what = format!("{compiler:?} {reservation:?} after grow={grow}");
                    // Fresh: the data segment, zeros, the initial size, nothing past it.
                    assert_fresh_memory(&mut sb, b"hello", &what);
                    // Then this tenant writes its secrets (and grows, every other time).
                    sb.call("write", &[Value::I32(grow)]).unwrap();
                    assert_eq!(
                        i32_of(sb.call("load", &[Value::I32(1000)]).unwrap()),
                        0x5ec2e7
                    );
                }
            })
            .unwrap();
        }
    }
}

/// Two threads making requests of one module at once, each checking it got a fresh memory
/// before writing its own secrets (and growing, one request in three): the pool hands a mapping
/// to one instance at a time, zeroed.
#[test]
fn concurrent_tenants_each_get_a_fresh_memory() {
    let bytes = cage_core::module::to_binary(GUEST.as_bytes()).unwrap();
    let policy = Policy::default();
    let rt = cage_wasmer::runtime(&policy, Compiler::Cranelift).unwrap();
    let host = HostFunctions::new();
    let checked = cage_core::prepare(&rt, &bytes, &host, &Invocation::Instantiate).unwrap();
    let module = rt.compile_checked(&checked, &host).unwrap();
    std::thread::scope(|s| {
        for t in 0..2 {
            let module = &module;
            let policy = &policy;
            s.spawn(move || {
                cage_core::on_guest_thread(policy, || {
                    for i in 0..300 {
                        let mut sb = module.sandbox().unwrap();
                        sb.instantiate().unwrap();
                        assert_fresh_memory(&mut sb, b"hello", &format!("thread {t}, request {i}"));
                        sb.call("write", &[Value::I32(i32::from(i % 3 == 0))])
                            .unwrap();
                    }
                })
                .unwrap();
            });
        }
    });
}
