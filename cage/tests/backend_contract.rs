//! The backend contract from safe code: `cage_core::backend::Store::call` is a safe method that
//! anyone holding a store reaches (`cage_core::backend::store_of`), without the checks the
//! sandbox makes first. Every backend must answer arguments or result slots that do not match
//! the function with `rejected: invalid_invocation` (the contract, core/src/backend.rs), never
//! call the runtime unchecked (undefined behaviour), panic, or poison the store; and reference
//! arguments made in numbers that force collections arrive intact. On every runtime compiled in.
//! (Until 2026-12-03 Wasmer's store did not check: mismatched arguments trapped `other` and
//! result slots were neither counted nor checked.)

use cage::{Rejection, Value};
use cage_core::backend::{Backend, Store as _, store_of};

const GUEST: &str = r#"(module
  (func (export "mix") (param i32 i64) (result f32)
    (f32.convert_i64_s (i64.add (i64.extend_i32_s (local.get 0)) (local.get 1))))
  (func (export "id_ref") (param externref) (result externref) (local.get 0))
  (func (export "none"))
  (func (export "two") (result i32 i32) (i32.const 1) (i32.const 2)))"#;

/// Externref parameters of `many_refs`, each returned in reverse order.
const REFS: usize = 64;

fn many_refs() -> String {
    let params = "externref ".repeat(REFS);
    let gets: String = (0..REFS)
        .rev()
        .map(|i| format!("(local.get {i})"))
        .collect();
    format!(r#"(module (func (export "many_refs") (param {params}) (result {params}) {gets}))"#)
}

/// Checks a mismatched call's result: `rejected: invalid_invocation`, nothing else.
fn assert_invalid<T: std::fmt::Debug>(name: &str, what: &str, r: Result<T, cage::Error>) {
    match &r {
        Err(e) if e.as_rejection() == Some(Rejection::InvalidInvocation) => {}
        _ => panic!("{name}: {what}: not invalid_invocation: {r:?}"),
    }
}

/// Tests every kind of mismatch through the store itself, then that the store still calls.
fn mismatches_are_typed_errors<B: Backend>(name: &str, rt: &cage::Runtime<B>) {
    let bytes = wat::parse_str(GUEST).unwrap();
    let module = rt.compile(&bytes, &cage::HostFunctions::new()).unwrap();
    let mut sandbox = module.instantiate().unwrap();
    let store = store_of(&mut sandbox);
    let mix = store.func("mix").expect("mix");
    let id_ref = store.func("id_ref").expect("id_ref");
    let none = store.func("none").expect("none");
    let two = store.func("two").expect("two");
    let f32_slot = || vec![Value::F32(0)];
    type Call<'a, F> = (&'static str, &'a F, Vec<Value>, Vec<Value>);
    let calls: Vec<Call<'_, _>> = vec![
        ("too few arguments", &mix, vec![Value::I32(1)], f32_slot()),
        ("no arguments", &mix, vec![], f32_slot()),
        (
            "too many arguments",
            &mix,
            vec![Value::I32(1), Value::I64(2), Value::I32(3)],
            f32_slot(),
        ),
        (
            "swapped types",
            &mix,
            vec![Value::I64(1), Value::I32(2)],
            f32_slot(),
        ),
        (
            "floats for integers",
            &mix,
            vec![Value::F32(0), Value::F64(0)],
            f32_slot(),
        ),
        (
            "a reference for an i32",
            &mix,
            vec![Value::ExternRef(Some(7)), Value::I64(2)],
            f32_slot(),
        ),
        (
            "a null reference for an i32",
            &mix,
            vec![Value::ExternRef(None), Value::I64(2)],
            f32_slot(),
        ),
        (
            "a v128 for an i64",
            &mix,
            vec![Value::I32(1), Value::V128(u128::MAX)],
            f32_slot(),
        ),
        (
            "no result slot",
            &mix,
            vec![Value::I32(1), Value::I64(2)],
            vec![],
        ),
        (
            "two result slots for one",
            &mix,
            vec![Value::I32(1), Value::I64(2)],
            vec![Value::F32(0), Value::F32(0)],
        ),
        (
            "one result slot for none",
            &none,
            vec![],
            vec![Value::I32(0)],
        ),
        ("one result slot for two", &two, vec![], vec![Value::I32(0)]),
        (
            "an i32 for an externref",
            &id_ref,
            vec![Value::I32(7)],
            vec![Value::ExternRef(None)],
        ),
        (
            "a funcref for an externref",
            &id_ref,
            vec![Value::FuncRef { null: true }],
            vec![Value::ExternRef(None)],
        ),
        (
            "an anyref for an externref",
            &id_ref,
            vec![Value::AnyRef { null: true }],
            vec![Value::ExternRef(None)],
        ),
    ];
    for (what, func, args, mut results) in calls {
        let before = results.clone();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.call(func, &args, &mut results)
        }));
        let r = r.unwrap_or_else(|_| panic!("{name}: {what} panicked"));
        let called = r.is_ok();
        assert_invalid(name, what, r);
        if !called {
            assert_eq!(
                results, before,
                "{name}: {what}: the result slots were written"
            );
        }
    }

    // The store is as it was: well-formed calls work, results land in their slots.
    let mut out = vec![Value::F32(0)];
    store
        .call(&mix, &[Value::I32(-3), Value::I64(10)], &mut out)
        .unwrap();
    assert_eq!(out, [Value::F32(7f32.to_bits())], "{name}");
    let mut out = vec![Value::I32(0), Value::I32(0)];
    store.call(&two, &[], &mut out).unwrap();
    assert_eq!(out, [Value::I32(1), Value::I32(2)], "{name}");
    let mut out = vec![Value::ExternRef(None)];
    store
        .call(&id_ref, &[Value::ExternRef(Some(41))], &mut out)
        .unwrap();
    assert_eq!(out, [Value::ExternRef(Some(41))], "{name}");
    // And so is the sandbox around it.
    assert_eq!(
        sandbox.call("two", &[]).unwrap(),
        [Value::I32(1), Value::I32(2)],
        "{name}"
    );
}

/// Tests that many reference arguments per call, over enough calls that the runtime collects
/// garbage while arguments are being made (Wasmtime: creating an `ExternRef` may collect), all
/// arrive and come back as the host gave them.
fn many_references_survive_collections<B: Backend>(name: &str, rt: &cage::Runtime<B>) {
    let bytes = wat::parse_str(many_refs()).unwrap();
    let module = rt.compile(&bytes, &cage::HostFunctions::new()).unwrap();
    let mut sandbox = module.instantiate().unwrap();
    let store = store_of(&mut sandbox);
    let f = store.func("many_refs").expect("many_refs");
    let mut results = vec![Value::ExternRef(None); REFS];
    for round in 0..2_000u32 {
        // Every fifth argument null, the others distinct in each round.
        let args: Vec<Value> = (0..REFS as u32)
            .map(|i| Value::ExternRef((i % 5 != 4).then_some(round * 1_000 + i)))
            .collect();
        store
            .call(&f, &args, &mut results)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let back: Vec<Value> = args.iter().rev().cloned().collect();
        assert_eq!(results, back, "{name}: round {round}");
    }
    // A mismatch among references still answers before anything is called.
    let mut args = vec![Value::ExternRef(Some(1)); REFS];
    args[REFS - 1] = Value::I32(1);
    assert_invalid(
        name,
        "an i32 among externrefs",
        store.call(&f, &args, &mut results),
    );
    assert_invalid(
        name,
        "one reference too few",
        store.call(&f, &args[..REFS - 1], &mut results),
    );
}

fn exercise<B: Backend>(name: &str, rt: cage::Runtime<B>) {
    let policy = rt.policy().clone();
    cage::on_guest_thread(&policy, || {
        mismatches_are_typed_errors(name, &rt);
        many_references_survive_collections(name, &rt);
    })
    .unwrap();
}

#[test]
fn store_calls_check_what_the_sandbox_would_have_checked() {
    let policy = cage::Policy::default();
    for name in cage::available_runtimes() {
        let label = name.to_string();
        match name {
            #[cfg(feature = "wasmtime")]
            cage::RuntimeName::Wasmtime => {
                exercise(&label, cage_wasmtime::runtime(&policy).unwrap());
            }
            #[cfg(feature = "wasmer")]
            cage::RuntimeName::WasmerCranelift => exercise(
                &label,
                cage_wasmer::runtime(&policy, cage_wasmer::Compiler::Cranelift).unwrap(),
            ),
            #[cfg(feature = "wasmer-singlepass")]
            cage::RuntimeName::WasmerSinglepass => exercise(
                &label,
                cage_wasmer::runtime(&policy, cage_wasmer::Compiler::Singlepass).unwrap(),
            ),
            other => panic!("{other} is compiled in, and this test does not know it"),
        }
    }
}
