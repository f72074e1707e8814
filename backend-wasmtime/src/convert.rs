//! Conversions between Cage's values and traps and Wasmtime's.

use cage_core::{Error, HostError, RefKind, Rejection, Trap, ValType, Value};
use wasmtime::{AsContextMut, ExternRef, Rooted, Val};

use crate::limiter::GrowFailure;

/// A host function's error carried through Wasmtime back to Cage.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HostTrap(pub HostError);

/// Maps every Wasmtime failure onto the taxonomy. `Trap::Other` means a mapping is missing.
pub(crate) fn classify(err: &wasmtime::Error) -> Error {
    if let Some(HostTrap(h)) = err.downcast_ref::<HostTrap>() {
        return h.clone().into_error();
    }
    if let Some(g) = err.downcast_ref::<GrowFailure>() {
        return Error::trap(Trap::ResourceLimit, g.to_string());
    }
    if let Some(p) = err.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
        // Core's live-sandbox cap sizes the pool, so this needs slots held elsewhere; it is a
        // limit all the same, never a trap.
        return Error::reject(
            Rejection::LimitExceeded,
            format!("the instance pool is full: {p}"),
        );
    }
    if err.is::<wasmtime::ThrownException>() {
        return Error::trap(Trap::UncaughtException, "uncaught exception");
    }
    if let Some(t) = err.downcast_ref::<wasmtime::Trap>() {
        use wasmtime::Trap as W;
        let trap = match t {
            W::StackOverflow => Trap::StackOverflow,
            W::MemoryOutOfBounds => Trap::MemoryOutOfBounds,
            W::HeapMisaligned => Trap::HeapMisaligned,
            W::TableOutOfBounds => Trap::TableOutOfBounds,
            W::IndirectCallToNull => Trap::IndirectCallToNull,
            W::BadSignature => Trap::BadSignature,
            W::IntegerOverflow => Trap::IntegerOverflow,
            W::IntegerDivisionByZero => Trap::IntegerDivisionByZero,
            W::BadConversionToInteger => Trap::BadConversionToInteger,
            W::UnreachableCodeReached => Trap::Unreachable,
            W::Interrupt => Trap::Timeout,
            W::OutOfFuel => Trap::OutOfFuel,
            W::AtomicWaitNonSharedMemory => Trap::AtomicWaitNonSharedMemory,
            W::NullReference => Trap::NullReference,
            W::ArrayOutOfBounds => Trap::ArrayOutOfBounds,
            W::AllocationTooLarge => Trap::ResourceLimit,
            W::CastFailure => Trap::CastFailure,
            W::UnhandledTag => Trap::UncaughtException,
            _ => Trap::Other,
        };
        return Error::trap(trap, t.to_string());
    }
    // What is neither a trap nor Cage's own: the host running out of memory, mappings or
    // descriptors (a memory image that cannot be made, a memory that cannot be mapped) is the
    // host's failure, never the guest's.
    if let Some(what) = cage_core::exhausted(err.as_ref()) {
        return Error::host(
            cage_core::HostFailure::Resources,
            format!("{what}: {err:#}"),
        );
    }
    Error::trap(Trap::Other, format!("{err:#}"))
}

/// The Wasmtime type of `t`; a type this backend does not know yet (`ValType` is
/// non-exhaustive) is an error, never a guess.
pub(crate) fn val_type(t: ValType) -> wasmtime::Result<wasmtime::ValType> {
    Ok(match t {
        ValType::I32 => wasmtime::ValType::I32,
        ValType::I64 => wasmtime::ValType::I64,
        ValType::F32 => wasmtime::ValType::F32,
        ValType::F64 => wasmtime::ValType::F64,
        ValType::V128 => wasmtime::ValType::V128,
        ValType::Ref(RefKind::Func) => wasmtime::ValType::FUNCREF,
        ValType::Ref(RefKind::Extern) => wasmtime::ValType::EXTERNREF,
        ValType::Ref(RefKind::Any) => wasmtime::ValType::ANYREF,
        ValType::Ref(RefKind::Exn) => wasmtime::ValType::EXNREF,
        other => wasmtime::bail!("wasmtime backend: no value type {other:?}"),
    })
}

/// A Cage value as a Wasmtime value in `store`.
pub(crate) fn to_val(mut store: impl AsContextMut, v: &Value) -> Result<Val, Error> {
    Ok(match *v {
        Value::I32(x) => Val::I32(x),
        Value::I64(x) => Val::I64(x),
        Value::F32(b) => Val::F32(b),
        Value::F64(b) => Val::F64(b),
        Value::V128(x) => Val::V128(x.into()),
        Value::FuncRef { null: true } => Val::FuncRef(None),
        Value::ExternRef(None) => Val::ExternRef(None),
        Value::ExternRef(Some(n)) => {
            Val::ExternRef(Some(ExternRef::new(&mut store, n).map_err(|e| {
                Error::trap(
                    Trap::ResourceLimit,
                    format!("cannot allocate externref: {e}"),
                )
            })?))
        }
        Value::AnyRef { null: true } => Val::AnyRef(None),
        Value::ExnRef { null: true } => Val::ExnRef(None),
        Value::FuncRef { null: false }
        | Value::AnyRef { null: false }
        | Value::ExnRef { null: false } => {
            return Err(Error::reject(
                Rejection::InvalidInvocation,
                format!("the host cannot make a non-null {} argument", v.ty()),
            ));
        }
        _ => {
            return Err(Error::reject(
                Rejection::InvalidInvocation,
                format!("the wasmtime backend cannot take a {} argument", v.ty()),
            ));
        }
    })
}

fn externref_number(store: impl AsContextMut, r: &Rooted<ExternRef>) -> Option<u32> {
    let store = store.as_context();
    r.data(&store)
        .ok()
        .flatten()
        .and_then(|d| d.downcast_ref::<u32>().copied())
}

/// A Wasmtime value as a Cage value.
pub(crate) fn from_val(store: impl AsContextMut, v: &Val) -> Value {
    match v {
        Val::I32(x) => Value::I32(*x),
        Val::I64(x) => Value::I64(*x),
        Val::F32(b) => Value::F32(*b),
        Val::F64(b) => Value::F64(*b),
        Val::V128(x) => Value::V128(x.as_u128()),
        Val::FuncRef(f) => Value::FuncRef { null: f.is_none() },
        Val::ExternRef(None) => Value::ExternRef(None),
        // A guest-made externref (e.g. from `any.convert_extern`) has no host number: report 0.
        Val::ExternRef(Some(r)) => Value::ExternRef(Some(externref_number(store, r).unwrap_or(0))),
        Val::AnyRef(a) => Value::AnyRef { null: a.is_none() },
        Val::ExnRef(e) => Value::ExnRef { null: e.is_none() },
        #[allow(unreachable_patterns)]
        _ => Value::AnyRef { null: false },
    }
}
