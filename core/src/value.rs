//! WebAssembly values and types as Cage passes them across the host boundary.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A WebAssembly value type, as far as the host boundary needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValType {
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `v128`
    V128,
    /// A reference, by the top of its type hierarchy.
    Ref(RefKind),
}

/// The top of a reference type's hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefKind {
    /// `funcref` and its subtypes.
    Func,
    /// `externref` and its subtypes.
    Extern,
    /// `anyref` and its subtypes (`eqref`, `i31ref`, structs, arrays).
    Any,
    /// `exnref` and its subtypes.
    Exn,
}

impl RefKind {
    fn name(self) -> &'static str {
        match self {
            RefKind::Func => "funcref",
            RefKind::Extern => "externref",
            RefKind::Any => "anyref",
            RefKind::Exn => "exnref",
        }
    }
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::V128 => "v128",
            ValType::Ref(k) => k.name(),
        })
    }
}

impl ValType {
    /// Maps a wasmparser value type whose concrete heap types are resolved by `is_func`
    /// (whether the type at that index is a function type).
    pub(crate) fn from_wasmparser_in(
        t: wasmparser::ValType,
        is_func: &dyn Fn(wasmparser::UnpackedIndex) -> bool,
    ) -> Self {
        match t {
            wasmparser::ValType::Ref(r) => match r.heap_type() {
                wasmparser::HeapType::Concrete(i) | wasmparser::HeapType::Exact(i) => {
                    ValType::Ref(if is_func(i) {
                        RefKind::Func
                    } else {
                        RefKind::Any
                    })
                }
                _ => Self::from_wasmparser(t),
            },
            _ => Self::from_wasmparser(t),
        }
    }

    /// Maps a wasmparser value type.
    pub(crate) fn from_wasmparser(t: wasmparser::ValType) -> Self {
        use wasmparser::{AbstractHeapType as A, HeapType as H};
        match t {
            wasmparser::ValType::I32 => ValType::I32,
            wasmparser::ValType::I64 => ValType::I64,
            wasmparser::ValType::F32 => ValType::F32,
            wasmparser::ValType::F64 => ValType::F64,
            wasmparser::ValType::V128 => ValType::V128,
            wasmparser::ValType::Ref(r) => ValType::Ref(match r.heap_type() {
                H::Abstract {
                    ty: A::Func | A::NoFunc,
                    ..
                } => RefKind::Func,
                H::Abstract {
                    ty: A::Extern | A::NoExtern,
                    ..
                } => RefKind::Extern,
                H::Abstract {
                    ty: A::Exn | A::NoExn,
                    ..
                } => RefKind::Exn,
                H::Abstract { .. } => RefKind::Any,
                // Concrete types: function types are funcs, struct/array types are anys. The
                // distinction needs the type section; callers that care resolve it themselves.
                _ => RefKind::Any,
            }),
        }
    }
}

/// A WebAssembly value crossing the host boundary.
///
/// Floats are kept as bit patterns so that NaN payloads survive and equality is exact.
/// References are opaque to the host except externrefs, which carry a host-chosen number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Value {
    /// `i32`
    I32(i32),
    /// `i64`
    I64(i64),
    /// `f32`, as bits.
    F32(u32),
    /// `f64`, as bits.
    F64(u64),
    /// `v128`
    V128(u128),
    /// A function reference; `true` when null.
    FuncRef {
        /// Whether the reference is null.
        null: bool,
    },
    /// An external reference: `None` for null, or the number the host gave it.
    ExternRef(Option<u32>),
    /// A GC reference (`anyref` hierarchy); `true` when null.
    AnyRef {
        /// Whether the reference is null.
        null: bool,
    },
    /// An exception reference; `true` when null.
    ExnRef {
        /// Whether the reference is null.
        null: bool,
    },
}

impl Value {
    /// An `f32` from a float.
    pub fn f32(v: f32) -> Self {
        Value::F32(v.to_bits())
    }

    /// An `f64` from a float.
    pub fn f64(v: f64) -> Self {
        Value::F64(v.to_bits())
    }

    /// The value's type.
    pub fn ty(&self) -> ValType {
        match self {
            Value::I32(_) => ValType::I32,
            Value::I64(_) => ValType::I64,
            Value::F32(_) => ValType::F32,
            Value::F64(_) => ValType::F64,
            Value::V128(_) => ValType::V128,
            Value::FuncRef { .. } => ValType::Ref(RefKind::Func),
            Value::ExternRef(_) => ValType::Ref(RefKind::Extern),
            Value::AnyRef { .. } => ValType::Ref(RefKind::Any),
            Value::ExnRef { .. } => ValType::Ref(RefKind::Exn),
        }
    }

    /// A null reference of the given kind, or zero of a numeric type.
    pub fn default_for(ty: ValType) -> Self {
        match ty {
            ValType::I32 => Value::I32(0),
            ValType::I64 => Value::I64(0),
            ValType::F32 => Value::F32(0),
            ValType::F64 => Value::F64(0),
            ValType::V128 => Value::V128(0),
            ValType::Ref(RefKind::Func) => Value::FuncRef { null: true },
            ValType::Ref(RefKind::Extern) => Value::ExternRef(None),
            ValType::Ref(RefKind::Any) => Value::AnyRef { null: true },
            ValType::Ref(RefKind::Exn) => Value::ExnRef { null: true },
        }
    }

    /// Parses a value of a known type from a bare literal (`42`, `-1`, `1.5`, `nan`, `0x7fc00000`
    /// for float bits, `null` for references), as `cage run --invoke` arguments are written.
    ///
    /// # Errors
    /// A literal that does not fit the type.
    pub fn parse_as(ty: ValType, text: &str) -> Result<Self, String> {
        let t = text.trim();
        let bad = || format!("`{text}` is not a valid {ty}");
        Ok(match ty {
            ValType::I32 => Value::I32(parse_i32(t).ok_or_else(bad)?),
            ValType::I64 => Value::I64(parse_i64(t).ok_or_else(bad)?),
            ValType::F32 => Value::F32(parse_f32(t).ok_or_else(bad)?),
            ValType::F64 => Value::F64(parse_f64(t).ok_or_else(bad)?),
            ValType::V128 => {
                let h = t.strip_prefix("0x").ok_or_else(bad)?;
                Value::V128(u128::from_str_radix(&h.replace('_', ""), 16).map_err(|_| bad())?)
            }
            ValType::Ref(RefKind::Extern) if t != "null" => {
                Value::ExternRef(Some(t.parse().map_err(|_| bad())?))
            }
            ValType::Ref(_) if t == "null" => Value::default_for(ty),
            ValType::Ref(_) => return Err(format!("{ty} arguments can only be `null`")),
        })
    }
}

macro_rules! parse_int {
    ($name:ident, $s:ty, $u:ty) => {
        /// Signed parse with the unsigned and hex spellings allowed (`0xffffffff` is -1 as i32).
        fn $name(t: &str) -> Option<$s> {
            let t = t.replace('_', "");
            if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                return <$u>::from_str_radix(h, 16).ok().map(|u| u as $s);
            }
            t.parse::<$s>()
                .ok()
                .or_else(|| t.parse::<$u>().ok().map(|u| u as $s))
        }
    };
}
parse_int!(parse_i32, i32, u32);
parse_int!(parse_i64, i64, u64);

fn parse_nan_bits(t: &str, canonical: u64, sign: u64) -> Option<u64> {
    let (neg, rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let s = if neg { sign } else { 0 };
    if rest == "nan" {
        return Some(canonical | s);
    }
    let payload = rest.strip_prefix("nan:0x")?;
    let bits = u64::from_str_radix(payload, 16).ok()?;
    Some(bits | s)
}

fn parse_f32(t: &str) -> Option<u32> {
    if let Some(b) = parse_nan_bits(t, 0x7fc0_0000, 0x8000_0000) {
        // `nan:0x...` is a whole bit pattern; a bare payload without the exponent is completed.
        let b = u32::try_from(b).ok()?;
        return Some(if b & 0x7f80_0000 == 0x7f80_0000 {
            b
        } else {
            b | 0x7f80_0000
        });
    }
    if let Some(h) = t.strip_prefix("0x") {
        return u32::from_str_radix(h, 16).ok();
    }
    t.parse::<f32>().ok().map(f32::to_bits)
}

fn parse_f64(t: &str) -> Option<u64> {
    if let Some(b) = parse_nan_bits(t, 0x7ff8_0000_0000_0000, 0x8000_0000_0000_0000) {
        let e = 0x7ff0_0000_0000_0000;
        return Some(if b & e == e { b } else { b | e });
    }
    if let Some(h) = t.strip_prefix("0x") {
        return u64::from_str_radix(h, 16).ok();
    }
    t.parse::<f64>().ok().map(f64::to_bits)
}

fn fmt_f32(bits: u32) -> String {
    let v = f32::from_bits(bits);
    if v.is_nan() {
        format!("nan:0x{bits:08x}")
    } else {
        format!("{v}")
    }
}

fn fmt_f64(bits: u64) -> String {
    let v = f64::from_bits(bits);
    if v.is_nan() {
        format!("nan:0x{bits:016x}")
    } else {
        format!("{v}")
    }
}

impl fmt::Display for Value {
    /// `i32:42`, `i64:-1`, `f32:1.5`, `f32:nan:0x7fc00000`, `v128:0x…`, `funcref:null`,
    /// `externref:7`, `anyref:nonnull`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nn = |null: bool| if null { "null" } else { "nonnull" };
        match self {
            Value::I32(v) => write!(f, "i32:{v}"),
            Value::I64(v) => write!(f, "i64:{v}"),
            Value::F32(b) => write!(f, "f32:{}", fmt_f32(*b)),
            Value::F64(b) => write!(f, "f64:{}", fmt_f64(*b)),
            Value::V128(v) => write!(f, "v128:0x{v:032x}"),
            Value::FuncRef { null } => write!(f, "funcref:{}", nn(*null)),
            Value::ExternRef(None) => write!(f, "externref:null"),
            Value::ExternRef(Some(n)) => write!(f, "externref:{n}"),
            Value::AnyRef { null } => write!(f, "anyref:{}", nn(*null)),
            Value::ExnRef { null } => write!(f, "exnref:{}", nn(*null)),
        }
    }
}

impl FromStr for Value {
    type Err = String;
    /// Parses the `TYPE:LITERAL` form [`Display`](fmt::Display) writes.
    fn from_str(s: &str) -> Result<Self, String> {
        let (ty, lit) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}` is not a typed value (expected e.g. i32:42)"))?;
        let ty = match ty.trim() {
            "i32" => ValType::I32,
            "i64" => ValType::I64,
            "f32" => ValType::F32,
            "f64" => ValType::F64,
            "v128" => ValType::V128,
            "funcref" => ValType::Ref(RefKind::Func),
            "externref" => ValType::Ref(RefKind::Extern),
            "anyref" => ValType::Ref(RefKind::Any),
            "exnref" => ValType::Ref(RefKind::Exn),
            other => return Err(format!("unknown value type `{other}` in `{s}`")),
        };
        if let (ValType::Ref(k), "nonnull") = (ty, lit.trim()) {
            return Ok(match k {
                RefKind::Func => Value::FuncRef { null: false },
                RefKind::Any => Value::AnyRef { null: false },
                RefKind::Exn => Value::ExnRef { null: false },
                RefKind::Extern => return Err("externref values are numbers or null".into()),
            });
        }
        Value::parse_as(ty, lit)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        for v in [
            Value::I32(42),
            Value::I32(-1),
            Value::I64(i64::MIN),
            Value::f32(1.5),
            Value::f32(-0.0),
            Value::F32(0x7fa0_0001),
            Value::f64(f64::INFINITY),
            Value::F64(0xfff8_0000_0000_0000),
            Value::V128(0x0102_0304),
            Value::FuncRef { null: true },
            Value::ExternRef(Some(7)),
            Value::AnyRef { null: false },
        ] {
            let s = v.to_string();
            assert_eq!(s.parse::<Value>().unwrap(), v, "{s}");
        }
        assert_eq!(Value::I32(42).to_string(), "i32:42");
        assert_eq!(Value::f32(1.5).to_string(), "f32:1.5");
    }

    #[test]
    fn literals_parse_by_type() {
        assert_eq!(
            Value::parse_as(ValType::I32, "0xffffffff").unwrap(),
            Value::I32(-1)
        );
        assert_eq!(
            Value::parse_as(ValType::I32, "4294967295").unwrap(),
            Value::I32(-1)
        );
        assert_eq!(Value::parse_as(ValType::I64, "-9").unwrap(), Value::I64(-9));
        assert_eq!(
            Value::parse_as(ValType::F32, "nan").unwrap(),
            Value::F32(0x7fc0_0000)
        );
        assert_eq!(
            Value::parse_as(ValType::F64, "-nan").unwrap(),
            Value::F64(0xfff8_0000_0000_0000)
        );
        assert!(Value::parse_as(ValType::I32, "4294967296").is_err());
        assert!(Value::parse_as(ValType::I32, "1.5").is_err());
        assert!(Value::parse_as(ValType::F64, "x").is_err());
        assert!("i33:1".parse::<Value>().is_err());
        assert!("42".parse::<Value>().is_err());
    }
}
