//! The one module of the Wasmtime backend with `unsafe`: untyped calls through
//! `Func::call_unchecked` (after checks of its own that cost less than `Func::call`'s, which
//! allocate), the conversion of raw results with `Val::from_raw`, and loading cached code with
//! `Module::deserialize`. The crate denies `unsafe_code`; this module alone
//! allows it, and every block carries a `// SAFETY:` comment.

#![allow(unsafe_code)]

use cage_core::cache::VerifiedCode;
use cage_core::{Error, HostFailure, Rejection, Value};
use wasmtime::{Store, Val, ValRaw};

use crate::StoreData;
use crate::convert::{classify, from_val, to_val};

/// An exported function with its exact Wasmtime signature, read once when it was looked up:
/// what [`call`] checks every call against, so that no caller (safe code included) can make
/// `call_unchecked` see arguments or result slots of other types.
#[derive(Clone, Debug)]
pub struct WasmtimeFunc {
    pub(crate) func: wasmtime::Func,
    params: std::sync::Arc<[wasmtime::ValType]>,
    results: std::sync::Arc<[wasmtime::ValType]>,
}

impl WasmtimeFunc {
    /// `func` with its signature in `store`.
    pub(crate) fn new(store: &Store<StoreData>, func: wasmtime::Func) -> Self {
        let ty = func.ty(store);
        WasmtimeFunc {
            func,
            params: ty.params().collect(),
            results: ty.results().collect(),
        }
    }
}

fn mismatch(what: &str) -> Error {
    Error::reject(
        Rejection::InvalidInvocation,
        format!("{what} do not match the function's signature"),
    )
}

/// Whether a number `v` is of the Wasmtime type `ty` (references are checked as `Val`s).
fn number_matches(v: &Value, ty: &wasmtime::ValType) -> bool {
    matches!(
        (v, ty),
        (Value::I32(_), wasmtime::ValType::I32)
            | (Value::I64(_), wasmtime::ValType::I64)
            | (Value::F32(_), wasmtime::ValType::F32)
            | (Value::F64(_), wasmtime::ValType::F64)
            | (Value::V128(_), wasmtime::ValType::V128)
    )
}

/// Calls `f` with `args`, writing its results into `results`; `buf` is a reused buffer.
///
/// Sound for any input: every argument is checked against `f`'s own parameter types (numbers by
/// kind, references with `Val::matches_ty`, which also checks nullability and concrete types)
/// and `results` must have exactly as many slots as `f` returns; anything else is
/// `rejected: invalid_invocation`, never an unchecked call. Reference arguments are all created
/// (rooted) before any is turned into a raw slot, so that no garbage collection runs between
/// making a raw value and the call that reads it.
pub(crate) fn call(
    store: &mut Store<StoreData>,
    f: &WasmtimeFunc,
    args: &[Value],
    results: &mut [Value],
    buf: &mut Vec<ValRaw>,
) -> Result<(), Error> {
    if args.len() != f.params.len() {
        return Err(mismatch("the arguments"));
    }
    if results.len() != f.results.len() {
        return Err(mismatch("the result slots"));
    }
    // Every reference rooted here (arguments, results) is unrooted when the call returns, so
    // that calls with references do not accumulate roots for the life of the store.
    let mut scope = wasmtime::RootScope::new(&mut *store);
    let store = &mut scope;
    // First every reference argument as a rooted `Val` (creating an `ExternRef` may collect
    // garbage), checked against its parameter type.
    let mut refs: Vec<Val> = Vec::new();
    for (a, ty) in args.iter().zip(f.params.iter()) {
        if ty.is_ref() {
            let val = to_val(&mut *store, a)?;
            if !val.matches_ty(&*store, ty).map_err(|e| classify(&e))? {
                return Err(mismatch("the arguments"));
            }
            refs.push(val);
        } else if !number_matches(a, ty) {
            return Err(mismatch("the arguments"));
        }
    }
    // Then the raw slots, with no allocation in between.
    buf.clear();
    let mut refs = refs.iter();
    for (a, ty) in args.iter().zip(f.params.iter()) {
        let raw = match *a {
            _ if ty.is_ref() => match refs.next() {
                Some(val) => val.to_raw(&mut *store).map_err(|e| classify(&e))?,
                None => return Err(mismatch("the arguments")),
            },
            Value::I32(x) => ValRaw::i32(x),
            Value::I64(x) => ValRaw::i64(x),
            Value::F32(b) => ValRaw::f32(b),
            Value::F64(b) => ValRaw::f64(b),
            Value::V128(x) => ValRaw::v128(x),
            _ => return Err(mismatch("the arguments")),
        };
        buf.push(raw);
    }
    if buf.len() < results.len() {
        buf.resize(results.len(), ValRaw::i32(0));
    }
    // SAFETY: `call_unchecked` needs a buffer holding the function's parameters, of its types,
    // with room for its results, and references valid in this store. Checked just above, in
    // this function: one slot per parameter of `f` (whose types were read from `f` itself in
    // this store), numbers of exactly the parameter's type, references that `matches_ty`
    // accepted, made in this store and still rooted in `refs` (no allocation, hence no
    // collection, between `to_raw` and this call); the buffer has at least as many slots as
    // `f` has results. The call is not recursive from within a `call_async`: this function is
    // reached only through the sync `Store::call`, which no host function can reach (Cage's
    // host functions see a `HostContext`, never the store), and the async path
    // (`AsyncStore::call_async`, feature `async`) calls `Func::call_async` instead.
    let r = unsafe {
        f.func
            .call_unchecked(&mut *store, buf.as_mut_slice() as *mut [ValRaw])
    };
    r.map_err(|e| classify(&e))?;
    // Results: first every slot as a (rooted) `Val`, then converted.
    let mut vals: Vec<Val> = Vec::with_capacity(results.len());
    for (raw, ty) in buf.iter().zip(f.results.iter()) {
        let val = match ty {
            wasmtime::ValType::I32 => Val::I32(raw.get_i32()),
            wasmtime::ValType::I64 => Val::I64(raw.get_i64()),
            wasmtime::ValType::F32 => Val::F32(raw.get_f32()),
            wasmtime::ValType::F64 => Val::F64(raw.get_f64()),
            wasmtime::ValType::V128 => Val::V128(raw.get_v128().into()),
            // SAFETY: the slot holds a result of type `ty` (read from `f` itself in this store)
            // written by the call that just returned on this store.
            _ => unsafe { Val::from_raw(&mut *store, *raw, ty.clone()) },
        };
        vals.push(val);
    }
    for (slot, val) in results.iter_mut().zip(&vals) {
        *slot = from_val(&mut *store, val);
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
