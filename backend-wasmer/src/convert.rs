//! Conversions between Cage's values and traps and Wasmer's.

use cage_core::{Error, HostError, RefKind, Rejection, Trap, ValType, Value};
use wasmer::sys::vm::TrapCode;
use wasmer::{AsStoreMut, AsStoreRef, ExternRef, RuntimeError, Type};

/// A host function's error carried through Wasmer back to Cage.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HostTrap(pub HostError);

/// A failure Cage already classified, carried through Wasmer as a `RuntimeError`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Classified(pub Error);

/// Wraps an already classified failure for a closure that must return a `RuntimeError`.
pub(crate) fn classified(e: Error) -> RuntimeError {
    RuntimeError::user(Box::new(Classified(e)))
}

/// Why the Cage middleware executed an `unreachable` of its own (the flag global's value).
pub(crate) const FLAG_OUT_OF_FUEL: i32 = 1;
/// A grow failed under `trap_on_grow_failure`.
pub(crate) const FLAG_GROW_FAILED: i32 = 2;
/// `memory.atomic.wait` on an unshared memory (Wasmer would block instead of trapping).
pub(crate) const FLAG_WAIT_UNSHARED: i32 = 3;
/// The deadline watchdog raised the stop global.
pub(crate) const FLAG_TIMEOUT: i32 = 4;
/// The guest executed `unreachable` (rewritten by the middleware into a signal-raised trap).
pub(crate) const FLAG_UNREACHABLE: i32 = 5;

/// Maps a Wasmer failure onto the taxonomy. `flag` is the middleware's flag global, which tells
/// Cage's own `unreachable` (fuel exhausted, grow failed) from the guest's.
pub(crate) fn classify(err: &RuntimeError, flag: i32) -> Error {
    if let Some(HostTrap(h)) = err.downcast_ref::<HostTrap>() {
        return h.clone().into_error();
    }
    if let Some(Classified(e)) = err.downcast_ref::<Classified>() {
        return e.clone();
    }
    let message = err.message();
    let trap = match err.clone().to_trap() {
        // Cage's middleware raises its traps (and the guest's `unreachable`) as a division by
        // zero after setting the flag.
        Some(TrapCode::UnreachableCodeReached | TrapCode::IntegerDivisionByZero) if flag != 0 => {
            let (trap, why) = match flag {
                FLAG_OUT_OF_FUEL => (Trap::OutOfFuel, "all fuel consumed by WebAssembly"),
                FLAG_GROW_FAILED => (
                    Trap::ResourceLimit,
                    "a grow failed (limits.trap_on_grow_failure)",
                ),
                FLAG_WAIT_UNSHARED => (
                    Trap::AtomicWaitNonSharedMemory,
                    "atomic wait on non-shared memory",
                ),
                FLAG_TIMEOUT => (Trap::Timeout, "the deadline passed"),
                FLAG_UNREACHABLE => (Trap::Unreachable, "wasm `unreachable` instruction executed"),
                _ => (Trap::Other, "unknown Cage middleware flag"),
            };
            return Error::trap(trap, why);
        }
        Some(code) => match code {
            TrapCode::StackOverflow => Trap::StackOverflow,
            TrapCode::HeapAccessOutOfBounds => Trap::MemoryOutOfBounds,
            TrapCode::HeapMisaligned | TrapCode::UnalignedAtomic => Trap::HeapMisaligned,
            TrapCode::TableAccessOutOfBounds => Trap::TableOutOfBounds,
            TrapCode::IndirectCallToNull => Trap::IndirectCallToNull,
            TrapCode::BadSignature => Trap::BadSignature,
            TrapCode::IntegerOverflow => Trap::IntegerOverflow,
            TrapCode::IntegerDivisionByZero => Trap::IntegerDivisionByZero,
            TrapCode::BadConversionToInteger => Trap::BadConversionToInteger,
            TrapCode::UnreachableCodeReached => Trap::Unreachable,
            TrapCode::UncaughtException => Trap::UncaughtException,
            TrapCode::UninitializedExnRef => Trap::NullReference,
            _ => Trap::Other,
        },
        None if err.is_exception() => Trap::UncaughtException,
        // Wasmer's "VM out of memory" (a thread's signal stack that could not be mapped) and
        // any other exhaustion of the host is the host's failure, never the guest's.
        None if cage_core::exhausted(err).is_some() => {
            return Error::host(
                cage_core::HostFailure::Resources,
                format!(
                    "{}: {message}",
                    cage_core::exhausted(err).unwrap_or("out of resources")
                ),
            );
        }
        // (`memory.atomic.wait` on an unshared memory, which Wasmer 7.3 reports only as text, never
        // gets here: the middleware traps first with its flag.)
        None => Trap::Other,
    };
    Error::trap(trap, message)
}

pub(crate) fn val_type(t: ValType) -> Result<Type, Error> {
    Ok(match t {
        ValType::I32 => Type::I32,
        ValType::I64 => Type::I64,
        ValType::F32 => Type::F32,
        ValType::F64 => Type::F64,
        ValType::V128 => Type::V128,
        ValType::Ref(RefKind::Func) => Type::FuncRef,
        ValType::Ref(RefKind::Extern) => Type::ExternRef,
        ValType::Ref(RefKind::Exn) => Type::ExceptionRef,
        ValType::Ref(RefKind::Any) => {
            return Err(Error::reject(
                Rejection::Unsupported,
                "wasmer has no anyref (GC) values",
            ));
        }
        other => {
            return Err(Error::reject(
                Rejection::Unsupported,
                format!("wasmer has no {other:?} values"),
            ));
        }
    })
}

/// A Cage value as a Wasmer value.
pub(crate) fn to_val(store: &mut impl AsStoreMut, v: &Value) -> Result<wasmer::Value, Error> {
    Ok(match *v {
        Value::I32(x) => wasmer::Value::I32(x),
        Value::I64(x) => wasmer::Value::I64(x),
        Value::F32(b) => wasmer::Value::F32(f32::from_bits(b)),
        Value::F64(b) => wasmer::Value::F64(f64::from_bits(b)),
        Value::V128(x) => wasmer::Value::V128(x),
        Value::FuncRef { null: true } => wasmer::Value::FuncRef(None),
        Value::ExternRef(None) => wasmer::Value::ExternRef(None),
        Value::ExternRef(Some(n)) => wasmer::Value::ExternRef(Some(ExternRef::new(store, n))),
        Value::ExnRef { null: true } => wasmer::Value::ExceptionRef(None),
        _ => {
            return Err(Error::reject(
                Rejection::InvalidInvocation,
                format!("wasmer cannot take a {} argument from the host", v.ty()),
            ));
        }
    })
}

/// A Wasmer value as a Cage value.
pub(crate) fn from_val(store: &impl AsStoreRef, v: &wasmer::Value) -> Value {
    match v {
        wasmer::Value::I32(x) => Value::I32(*x),
        wasmer::Value::I64(x) => Value::I64(*x),
        wasmer::Value::F32(x) => Value::F32(x.to_bits()),
        wasmer::Value::F64(x) => Value::F64(x.to_bits()),
        wasmer::Value::V128(x) => Value::V128(*x),
        wasmer::Value::FuncRef(f) => Value::FuncRef { null: f.is_none() },
        wasmer::Value::ExternRef(None) => Value::ExternRef(None),
        wasmer::Value::ExternRef(Some(r)) => {
            Value::ExternRef(Some(r.downcast::<u32>(store).copied().unwrap_or(0)))
        }
        wasmer::Value::ExceptionRef(e) => Value::ExnRef { null: e.is_none() },
    }
}
