//! The backend contract from safe code: `cage_core::backend::Store::call` is a safe method that
//! anyone holding a store reaches (`cage_core::backend::store_of`), without the checks the
//! sandbox makes first. Every backend must answer arguments or result slots that do not match
//! the function with `rejected: invalid_invocation` (the contract, core/src/backend.rs), never
//! call the runtime unchecked (undefined behaviour), panic, or poison the store; and reference
//! arguments made in numbers that force collections arrive intact. On every runtime compiled in.
//!
//! A backend that breaks the contract in a known way is listed in [`KNOWN_VIOLATIONS`] with what
//! it does instead: its listed cases must still do exactly that (no panic, no undefined
//! behaviour, the store still usable), and the test fails once one of them is fixed, so that the
//! entry is removed. Anything not listed must be `invalid_invocation`.

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

/// What a mismatched call did instead of `rejected: invalid_invocation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Instead {
    /// The runtime's own check refused it, reported as `trapped: other` (the trap's message
    /// names the signature).
    TrappedOther,
    /// The call ran, and filled the result slots there were (extra slots untouched).
    Called,
}

/// Contract violations known today, by runtime and case, with what happens instead.
///
/// Wasmer: `WasmerStore::call` (backend-wasmer/src/lib.rs) hands the arguments to Wasmer's
/// `Function::call` without comparing them with the function's signature, and zips the results
/// into however many slots it was given. Wasmer's dynamic call checks the arguments itself, so
/// nothing unsound happens, but the error is a trap, not `invalid_invocation`; result slots are
/// not checked at all. Declared, not fixed: comparing them with `func.ty(&store)` first costs
/// 110 ns (+55 %) on every untyped call on Wasmer (measured 2026-12-03), for an answer that is
/// already sound; core's sandbox checks both before it calls the store.
const KNOWN_VIOLATIONS: &[(&str, &str, Instead)] = &[
    ("wasmer", "too few arguments", Instead::TrappedOther),
    ("wasmer", "no arguments", Instead::TrappedOther),
    ("wasmer", "too many arguments", Instead::TrappedOther),
    ("wasmer", "swapped types", Instead::TrappedOther),
    ("wasmer", "floats for integers", Instead::TrappedOther),
    ("wasmer", "a reference for an i32", Instead::TrappedOther),
    (
        "wasmer",
        "a null reference for an i32",
        Instead::TrappedOther,
    ),
    ("wasmer", "a v128 for an i64", Instead::TrappedOther),
    ("wasmer", "no result slot", Instead::Called),
    ("wasmer", "two result slots for one", Instead::Called),
    ("wasmer", "one result slot for none", Instead::Called),
    ("wasmer", "one result slot for two", Instead::Called),
    ("wasmer", "an i32 for an externref", Instead::TrappedOther),
    (
        "wasmer",
        "a funcref for an externref",
        Instead::TrappedOther,
    ),
    ("wasmer", "an i32 among externrefs", Instead::TrappedOther),
    ("wasmer", "one reference too few", Instead::TrappedOther),
];

/// What `name` (a runtime) is known to do instead for `what`, if anything.
fn known(name: &str, what: &str) -> Option<Instead> {
    KNOWN_VIOLATIONS
        .iter()
        .find(|(rt, w, _)| name.starts_with(rt) && *w == what)
        .map(|k| k.2)
}

/// Checks a mismatched call's result: `invalid_invocation`, or exactly the known violation.
fn assert_invalid<T: std::fmt::Debug>(name: &str, what: &str, r: Result<T, cage::Error>) {
    let instead = match &r {
        Err(e) if e.as_rejection() == Some(Rejection::InvalidInvocation) => None,
        Err(e) if e.as_trap() == Some(cage::Trap::Other) => Some(Instead::TrappedOther),
        Ok(_) => Some(Instead::Called),
        Err(e) => panic!("{name}: {what}: neither invalid_invocation nor a known answer: {e:?}"),
    };
    match (instead, known(name, what)) {
        (None, None) => {}
        (Some(i), Some(k)) if i == k => {}
        (None, Some(k)) => panic!(
            "{name}: {what} is invalid_invocation now, as the contract says: remove ({name}, \
             {what}, {k:?}) from KNOWN_VIOLATIONS"
        ),
        (i, k) => panic!("{name}: {what}: {r:?} (instead: {i:?}; known: {k:?})"),
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
