//! Typed host functions (`cage::host_fn`) on every compiled-in runtime: each runtime links them
//! through its own typed path, and they must behave exactly like the same closures in the
//! dynamic form (`HostFunc::wrap`, which goes through `&[Value]`): same results, same fuel to the
//! unit, same traps and messages, the same containment of a panic.

use cage::{
    DynRuntime, Error, HostContext, HostError, HostFunc, HostFunctions, Invocation, Policy,
    Rejection, RuntimeName, Trap, Value,
};

/// The guest: one export per host function, each passing its parameters through.
const GUEST: &str = r#"(module
    (import "env" "bump" (func $bump (param i32) (result i32)))
    (import "env" "peek" (func $peek (param i32) (result i32)))
    (import "env" "fail" (func $fail))
    (import "env" "boom" (func $boom (param i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 100) "\2a\07")
    (func (export "bump_n") (param i32) (result i32) (local i32)
        (block $done (loop $l
            (br_if $done (i32.eqz (local.get 0)))
            (local.set 1 (call $bump (local.get 1)))
            (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
            (br $l)))
        (local.get 1))
    (func (export "peek") (param i32) (result i32) (call $peek (local.get 0)))
    (func (export "fail") (call $fail))
    (func (export "boom") (param i32) (result i32) (call $boom (local.get 0))))"#;

/// A guest importing a function with two results (which `wasmer-singlepass` declares it
/// cannot import).
const MIX_GUEST: &str = r#"(module
    (import "env" "mix" (func $mix (param i32 i64 f32 f64) (result i64 f64)))
    (func (export "mix") (param i32 i64 f32 f64) (result i64 f64)
        (call $mix (local.get 0) (local.get 1) (local.get 2) (local.get 3))))"#;

/// Per-sandbox state `peek` counts its calls in.
struct Calls(i32);

fn mix(_: &mut dyn HostContext, a: i32, b: i64, c: f32, d: f64) -> Result<(i64, f64), HostError> {
    Ok((i64::from(a) + b, f64::from(c) + d))
}

fn bump(_: &mut dyn HostContext, x: i32) -> Result<i32, HostError> {
    Ok(x.wrapping_add(1))
}

/// The byte at `ptr` in guest memory plus the number of earlier `peek` calls in this sandbox.
fn peek(cx: &mut dyn HostContext, ptr: i32) -> Result<i32, HostError> {
    let mut b = [0u8];
    cx.read(u64::from(ptr as u32), &mut b)?;
    let calls = cx.data::<Calls>().ok_or("no per-sandbox state")?;
    calls.0 += 1;
    Ok(i32::from(b[0]) + calls.0 - 1)
}

fn fail(_: &mut dyn HostContext) -> Result<(), HostError> {
    Err(HostError::new("refused by the host"))
}

fn boom(_: &mut dyn HostContext, x: i32) -> Result<i32, HostError> {
    if x == 1 {
        panic!("the typed closure blew up");
    }
    Ok(x)
}

/// The host functions, typed (each runtime's fast path) or dynamic (`&[Value]`).
fn host(typed: bool) -> HostFunctions {
    let with_cost = |f: HostFunc| f.with_fuel_cost(50);
    if typed {
        HostFunctions::new()
            .with(cage::host_fn("env", "mix", mix))
            .with(with_cost(cage::host_fn("env", "bump", bump)))
            .with(cage::host_fn("env", "peek", peek))
            .with(cage::host_fn("env", "fail", fail))
            .with(cage::host_fn("env", "boom", boom))
    } else {
        HostFunctions::new()
            .with(HostFunc::wrap("env", "mix", mix))
            .with(with_cost(HostFunc::wrap("env", "bump", bump)))
            .with(HostFunc::wrap("env", "peek", peek))
            .with(HostFunc::wrap("env", "fail", fail))
            .with(HostFunc::wrap("env", "boom", boom))
    }
}

fn runtime(name: RuntimeName, policy: &Policy) -> Box<dyn DynRuntime> {
    cage::runtime_named(name, policy).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// What one call did: its values or its error class and message, and the fuel it consumed.
#[derive(Debug, PartialEq)]
struct Observed {
    result: Result<Vec<Value>, (Option<Trap>, String)>,
    fuel: Option<u64>,
}

/// Runs `calls` in order on one fresh sandbox of [`GUEST`] with `host`.
fn observe(
    rt: &dyn DynRuntime,
    host: &HostFunctions,
    calls: &[(&str, Vec<Value>)],
) -> Vec<Observed> {
    observe_guest(rt, GUEST, host, calls)
}

/// Runs `calls` in order on one fresh sandbox of `guest` with `host`.
fn observe_guest(
    rt: &dyn DynRuntime,
    guest: &str,
    host: &HostFunctions,
    calls: &[(&str, Vec<Value>)],
) -> Vec<Observed> {
    let bytes = wat::parse_str(guest).unwrap();
    let checked = cage::prepare(rt, &bytes, host, &Invocation::Instantiate).unwrap();
    let module = rt.compile_dyn(&checked, host).unwrap();
    let mut sb = module.sandbox().unwrap();
    sb.extensions().insert(Calls(0));
    sb.instantiate().unwrap();
    calls
        .iter()
        .map(|(name, args)| {
            let before = sb.stats().fuel_consumed;
            let result = sb
                .call(name, args)
                .map_err(|e: Error| (e.as_trap(), e.message().unwrap_or_default()));
            let fuel = sb.stats().fuel_consumed.zip(before).map(|(a, b)| a - b);
            Observed { result, fuel }
        })
        .collect()
}

#[test]
fn typed_host_functions_compute_charge_and_fail_exactly_like_dynamic_ones() {
    let calls = vec![
        ("bump_n", vec![Value::I32(1000)]),
        ("peek", vec![Value::I32(100)]),
        ("peek", vec![Value::I32(101)]),
        ("peek", vec![Value::I32(65_535)]),
        ("peek", vec![Value::I32(65_536)]),
        ("fail", vec![]),
        ("boom", vec![Value::I32(3)]),
    ];
    for name in cage::available_runtimes() {
        let policy = Policy::default().with_fuel(Some(10_000_000));
        let rt = runtime(name, &policy);
        let typed = observe(rt.as_ref(), &host(true), &calls);
        let dynamic = observe(rt.as_ref(), &host(false), &calls);
        assert_eq!(
            typed, dynamic,
            "{name}: typed and dynamic host functions differ"
        );

        let values: Vec<_> = typed.iter().map(|o| o.result.clone()).collect();
        assert_eq!(values[0], Ok(vec![Value::I32(1000)]), "{name}");
        // 1000 calls at fuel_cost 50 each, on top of the guest's own instructions.
        assert!(typed[0].fuel.unwrap() > 50_000, "{name}: {:?}", typed[0]);
        assert_eq!(values[1], Ok(vec![Value::I32(0x2a)]), "{name}");
        assert_eq!(values[2], Ok(vec![Value::I32(0x07 + 1)]), "{name}");
        assert_eq!(values[3], Ok(vec![Value::I32(2)]), "{name}");
        assert!(
            matches!(&values[4], Err((Some(Trap::MemoryOutOfBounds), _))),
            "{name}: {:?}",
            values[4]
        );
        assert_eq!(
            values[5],
            Err((Some(Trap::HostError), "refused by the host".to_owned())),
            "{name}"
        );
        assert_eq!(values[6], Ok(vec![Value::I32(3)]), "{name}");
    }
}

#[test]
fn typed_host_functions_take_and_return_every_value_type() {
    let mix_host = |typed: bool| {
        HostFunctions::new().with(if typed {
            cage::host_fn("env", "mix", mix)
        } else {
            HostFunc::wrap("env", "mix", mix)
        })
    };
    let args = vec![
        Value::I32(-2),
        Value::I64(1 << 40),
        Value::F32(1.5f32.to_bits()),
        Value::F64(0.25f64.to_bits()),
    ];
    for name in cage::available_runtimes() {
        let policy = Policy::default().with_fuel(Some(1_000_000));
        let rt = runtime(name, &policy);
        if !rt.capabilities().multi_result_imports {
            let bytes = wat::parse_str(MIX_GUEST).unwrap();
            let e = cage::prepare(
                rt.as_ref(),
                &bytes,
                &mix_host(true),
                &Invocation::Instantiate,
            )
            .unwrap_err();
            assert_eq!(
                e.as_rejection(),
                Some(Rejection::Unsupported),
                "{name}: {e:?}"
            );
            continue;
        }
        let calls = [("mix", args.clone())];
        let typed = observe_guest(rt.as_ref(), MIX_GUEST, &mix_host(true), &calls);
        let dynamic = observe_guest(rt.as_ref(), MIX_GUEST, &mix_host(false), &calls);
        assert_eq!(typed, dynamic, "{name}");
        assert_eq!(
            typed[0].result,
            Ok(vec![
                Value::I64((1 << 40) - 2),
                Value::F64(1.75f64.to_bits())
            ]),
            "{name}"
        );
    }
}

#[test]
fn a_typed_host_function_out_of_fuel_traps_out_of_fuel_with_the_budget_spent() {
    for name in cage::available_runtimes() {
        for typed in [true, false] {
            let policy = Policy::default().with_fuel(Some(1_000));
            let rt = runtime(name, &policy);
            let seen = observe(
                rt.as_ref(),
                &host(typed),
                &[("bump_n", vec![Value::I32(100)])],
            );
            assert!(
                matches!(&seen[0].result, Err((Some(Trap::OutOfFuel), _))),
                "{name}, typed: {typed}: {:?}",
                seen[0]
            );
            assert_eq!(seen[0].fuel, Some(1_000), "{name}, typed: {typed}");
        }
        let rt = runtime(name, &Policy::default().with_fuel(Some(1_000)));
        let calls = [("bump_n", vec![Value::I32(100)])];
        assert_eq!(
            observe(rt.as_ref(), &host(true), &calls),
            observe(rt.as_ref(), &host(false), &calls),
            "{name}"
        );
    }
}

#[test]
fn a_panicking_typed_host_function_is_a_host_error_and_poisons_only_its_sandbox() {
    let bytes = wat::parse_str(GUEST).unwrap();
    for name in cage::available_runtimes() {
        let policy = Policy::default();
        let rt = runtime(name, &policy);
        let host = host(true);
        let checked = cage::prepare(rt.as_ref(), &bytes, &host, &Invocation::Instantiate).unwrap();
        let module = rt.compile_dyn(&checked, &host).unwrap();
        let mut sb = module.sandbox().unwrap();
        sb.instantiate().unwrap();
        let e = sb.call("boom", &[Value::I32(1)]).unwrap_err();
        assert_eq!(e.as_trap(), Some(Trap::HostError), "{name}: {e:?}");
        let m = e.message().unwrap_or_default();
        assert!(
            m.contains("env.boom") && m.contains("the typed closure blew up"),
            "{name}: {m}"
        );
        let e = sb.call("boom", &[Value::I32(2)]).unwrap_err();
        assert_eq!(
            e.as_rejection(),
            Some(Rejection::InvalidInvocation),
            "{name}: {e:?}"
        );
        let mut other = module.sandbox().unwrap();
        other.extensions().insert(Calls(0));
        other.instantiate().unwrap();
        assert_eq!(
            other.call("boom", &[Value::I32(2)]).unwrap(),
            [Value::I32(2)]
        );
    }
}

#[test]
fn typed_host_functions_have_the_closures_signature() {
    let f = cage::host_fn("env", "mix", mix);
    assert_eq!(f.ty.to_string(), "(i32, i64, f32, f64) -> (i64, f64)");
    let f = cage::host_fn("env", "fail", fail);
    assert_eq!(f.ty.to_string(), "() -> ()");
}
