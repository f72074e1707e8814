//! The one module of the Wasmtime backend with `unsafe`: untyped calls through
//! `Func::call_unchecked` (Wasmtime's own checks repeat what core has already checked, and cost
//! most of an untyped call), the conversion of raw results with `Val::from_raw`, and loading
//! cached code with `Module::deserialize`. The crate denies `unsafe_code`; this module alone
//! allows it, and every block carries a `// SAFETY:` comment.

#![allow(unsafe_code)]

use cage_core::cache::VerifiedCode;
use cage_core::{Error, HostFailure, Value};
use wasmtime::{Store, Val, ValRaw};

use crate::StoreData;
use crate::convert::{classify, from_val, to_val, val_type};

/// A value as a raw slot: numbers directly, references through the store.
fn to_raw(store: &mut Store<StoreData>, v: &Value) -> Result<ValRaw, Error> {
    Ok(match *v {
        Value::I32(x) => ValRaw::i32(x),
        Value::I64(x) => ValRaw::i64(x),
        Value::F32(b) => ValRaw::f32(b),
        Value::F64(b) => ValRaw::f64(b),
        Value::V128(x) => ValRaw::v128(x),
        _ => {
            let val = to_val(&mut *store, v)?;
            val.to_raw(&mut *store).map_err(|e| classify(&e))?
        }
    })
}

/// Calls `func` with `args`, writing its results into `results`, whose values already have the
/// result types (core makes them from the export's signature); `buf` is a reused buffer.
///
/// Core has checked that `func` is the export whose signature has exactly the types of `args`
/// as parameters and of `results` as results.
pub(crate) fn call(
    store: &mut Store<StoreData>,
    func: &wasmtime::Func,
    args: &[Value],
    results: &mut [Value],
    buf: &mut Vec<ValRaw>,
) -> Result<(), Error> {
    buf.clear();
    for a in args {
        let raw = to_raw(store, a)?;
        buf.push(raw);
    }
    if buf.len() < results.len() {
        buf.resize(results.len(), ValRaw::i32(0));
    }
    // SAFETY: `call_unchecked` needs a buffer of the function's parameters, of the right types,
    // with room for its results, and references valid in this store. Core checked that `args`
    // have exactly the export's parameter types and sized `results` to its result types; the
    // buffer holds one slot per argument, in order, converted by type (references through
    // `Val::to_raw` on this same store), and at least as many slots as results. The call is
    // synchronous (no `call_async` in this engine).
    let r = unsafe { func.call_unchecked(&mut *store, buf.as_mut_slice() as *mut [ValRaw]) };
    r.map_err(|e| classify(&e))?;
    for (slot, raw) in results.iter_mut().zip(buf.iter()) {
        *slot = match *slot {
            Value::I32(_) => Value::I32(raw.get_i32()),
            Value::I64(_) => Value::I64(raw.get_i64()),
            Value::F32(_) => Value::F32(raw.get_f32()),
            Value::F64(_) => Value::F64(raw.get_f64()),
            Value::V128(_) => Value::V128(raw.get_v128()),
            other => {
                let ty = val_type(other.ty());
                // SAFETY: the slot holds a result of type `ty` (the export's result type at this
                // position, which the placeholder value was made from) written by the call that
                // just returned on this store.
                let val: Val = unsafe { Val::from_raw(&mut *store, *raw, ty) };
                from_val(&mut *store, &val)
            }
        };
    }
    Ok(())
}

/// Loads compiled code from the cache.
///
/// # Errors
/// Wasmtime refuses the bytes (another version or configuration: it checks its own header).
pub(crate) fn deserialize(
    engine: &wasmtime::Engine,
    code: &VerifiedCode,
) -> Result<wasmtime::Module, Error> {
    // SAFETY: `Module::deserialize` needs bytes that `Module::serialize` produced, since they
    // become executable code. A `VerifiedCode` holds only bytes core's cache read fully into
    // memory and authenticated with its HMAC key (kept outside the cache directory) under a key
    // covering this runtime's version, its engine's compatibility hash, the policy and the
    // module: bytes this backend's `serialize_code` wrote for exactly this configuration.
    // Wasmtime copies them into fresh memory, so nothing can change them after the check.
    unsafe { wasmtime::Module::deserialize(engine, code.bytes()) }.map_err(|e| {
        Error::host(
            HostFailure::Runtime,
            format!("wasmtime refused cached code: {e:#}"),
        )
    })
}
