//! Runtime names: one enum, spelled in the JSON report, the policy tools and the CLI as today.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A runtime Cage can run guests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RuntimeName {
    /// Wasmtime (`wasmtime`).
    Wasmtime,
    /// Wasmer with its Cranelift compiler (`wasmer-cranelift`; `wasmer` is an alias).
    WasmerCranelift,
    /// Wasmer with its Singlepass compiler (`wasmer-singlepass`).
    WasmerSinglepass,
}

impl RuntimeName {
    /// Every runtime, in a stable order.
    pub const ALL: [RuntimeName; 3] = [
        RuntimeName::Wasmtime,
        RuntimeName::WasmerCranelift,
        RuntimeName::WasmerSinglepass,
    ];

    /// The name used everywhere: `wasmtime`, `wasmer-cranelift`, `wasmer-singlepass`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeName::Wasmtime => "wasmtime",
            RuntimeName::WasmerCranelift => "wasmer-cranelift",
            RuntimeName::WasmerSinglepass => "wasmer-singlepass",
        }
    }

    /// The Cargo feature of `cage` that compiles this runtime in.
    pub fn feature(self) -> &'static str {
        match self {
            RuntimeName::Wasmtime => "wasmtime",
            RuntimeName::WasmerCranelift => "wasmer",
            RuntimeName::WasmerSinglepass => "wasmer-singlepass",
        }
    }
}

impl fmt::Display for RuntimeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A runtime name Cage does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown runtime `{0}`; known runtimes: wasmtime, wasmer-cranelift, wasmer-singlepass, wasmer"
)]
pub struct UnknownRuntime(pub String);

impl std::str::FromStr for RuntimeName {
    type Err = UnknownRuntime;

    /// Parses a runtime name; `wasmer` is `wasmer-cranelift`.
    fn from_str(s: &str) -> Result<Self, UnknownRuntime> {
        match s {
            "wasmtime" => Ok(RuntimeName::Wasmtime),
            "wasmer-cranelift" | "wasmer" => Ok(RuntimeName::WasmerCranelift),
            "wasmer-singlepass" => Ok(RuntimeName::WasmerSinglepass),
            other => Err(UnknownRuntime(other.to_owned())),
        }
    }
}

impl Serialize for RuntimeName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RuntimeName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl PartialEq<str> for RuntimeName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RuntimeName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for n in RuntimeName::ALL {
            assert_eq!(n.as_str().parse::<RuntimeName>().unwrap(), n);
        }
        assert_eq!(
            "wasmer".parse::<RuntimeName>().unwrap(),
            RuntimeName::WasmerCranelift
        );
        assert!("v8".parse::<RuntimeName>().is_err());
    }
}
