//! Typed calls: a handle on an export, resolved and checked once, called with Rust values and no
//! allocation, at the runtime's own typed-call speed (Wasmtime's `TypedFunc`, Wasmer's
//! `TypedFunction`), under the same fuel, deadline, trap classification and lifecycle as
//! [`crate::Sandbox::call`].
//!
//! Parameters are a tuple of [`WasmTy`] values (`()`, `(i32,)`, `(i64, f64)`, … up to eight);
//! results are `()`, one [`WasmTy`], or a tuple of them.

use crate::value::{ValType, Value};

mod sealed {
    pub trait Sealed {}
}

/// A Rust type that is a WebAssembly value type: `i32`, `i64`, `f32`, `f64`.
pub trait WasmTy: sealed::Sealed + Copy + Send + Sync + 'static {
    /// The WebAssembly type.
    const TYPE: ValType;
    /// As a Cage value.
    fn into_value(self) -> Value;
    /// From a Cage value of [`WasmTy::TYPE`].
    fn from_value(v: Value) -> Option<Self>;
}

macro_rules! wasm_ty {
    ($($t:ty => $vt:ident, $into:expr, $from:pat => $out:expr;)*) => {$(
        impl sealed::Sealed for $t {}
        impl WasmTy for $t {
            const TYPE: ValType = ValType::$vt;
            fn into_value(self) -> Value {
                let f: fn($t) -> Value = $into;
                f(self)
            }
            fn from_value(v: Value) -> Option<Self> {
                match v {
                    $from => Some($out),
                    _ => None,
                }
            }
        }
    )*};
}

wasm_ty! {
    i32 => I32, Value::I32, Value::I32(x) => x;
    i64 => I64, Value::I64, Value::I64(x) => x;
    f32 => F32, |x: f32| Value::F32(x.to_bits()), Value::F32(b) => f32::from_bits(b);
    f64 => F64, |x: f64| Value::F64(x.to_bits()), Value::F64(b) => f64::from_bits(b);
}

/// The parameters of a typed call or a typed host function: a tuple of [`WasmTy`] (up to
/// eight).
pub trait WasmParams: sealed::Sealed + Send + 'static {
    /// The parameter types, in order.
    const TYPES: &'static [ValType];
    /// The values, in order.
    fn values(self, out: &mut Vec<Value>);
    /// From values of [`WasmParams::TYPES`].
    fn from_values(v: &[Value]) -> Option<Self>
    where
        Self: Sized;
}

/// The results of a typed call or a typed host function: `()`, one [`WasmTy`], or a tuple of
/// them (up to eight).
pub trait WasmResults: sealed::Sealed + Send + 'static {
    /// The result types, in order.
    const TYPES: &'static [ValType];
    /// From values of [`WasmResults::TYPES`].
    fn from_values(v: &[Value]) -> Option<Self>
    where
        Self: Sized;
    /// The values, in order.
    fn into_values(self) -> Vec<Value>;
}

impl<T: WasmTy> WasmResults for T {
    const TYPES: &'static [ValType] = &[T::TYPE];
    fn from_values(v: &[Value]) -> Option<Self> {
        match v {
            [x] => T::from_value(*x),
            _ => None,
        }
    }
    fn into_values(self) -> Vec<Value> {
        vec![self.into_value()]
    }
}

macro_rules! tuples {
    ($(($($t:ident),*))*) => {$(
        impl<$($t: WasmTy),*> sealed::Sealed for ($($t,)*) {}

        impl<$($t: WasmTy),*> WasmParams for ($($t,)*) {
            const TYPES: &'static [ValType] = &[$($t::TYPE),*];
            #[allow(non_snake_case, unused_variables)]
            fn values(self, out: &mut Vec<Value>) {
                let ($($t,)*) = self;
                $(out.push($t.into_value());)*
            }
            #[allow(non_snake_case, unused_mut, unused_variables)]
            fn from_values(v: &[Value]) -> Option<Self> {
                let mut it = v.iter();
                let r = ($($t::from_value(*it.next()?)?,)*);
                it.next().is_none().then_some(r)
            }
        }

        impl<$($t: WasmTy),*> WasmResults for ($($t,)*) {
            const TYPES: &'static [ValType] = &[$($t::TYPE),*];
            #[allow(non_snake_case, unused_mut, unused_variables)]
            fn from_values(v: &[Value]) -> Option<Self> {
                let mut it = v.iter();
                let r = ($($t::from_value(*it.next()?)?,)*);
                it.next().is_none().then_some(r)
            }
            #[allow(non_snake_case, unused_variables)]
            fn into_values(self) -> Vec<Value> {
                let ($($t,)*) = self;
                vec![$($t.into_value()),*]
            }
        }
    )*};
}

crate::for_each_arity!(tuples);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_values() {
        assert_eq!(
            <(i32, f64) as WasmParams>::TYPES,
            &[ValType::I32, ValType::F64]
        );
        assert_eq!(<i64 as WasmResults>::TYPES, &[ValType::I64]);
        assert_eq!(<() as WasmResults>::TYPES, &[]);
        let mut v = Vec::new();
        (1i32, 2.5f32).values(&mut v);
        assert_eq!(v, [Value::I32(1), Value::F32(2.5f32.to_bits())]);
        assert_eq!(<(i32, f32) as WasmResults>::from_values(&v), Some((1, 2.5)));
        assert_eq!(<(i32,) as WasmParams>::from_values(&v), None);
        assert_eq!(i64::from_values(&[Value::I64(9)]), Some(9));
    }
}
