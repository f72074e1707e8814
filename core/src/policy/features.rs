//! The proposals allow-list: wasmparser's proposal names in snake_case.

use std::collections::BTreeMap;
use std::fmt;

use bitflags::Flags;
use serde::{Serialize, Serializer};
use wasmparser::WasmFeatures;

/// The set of WebAssembly proposals a policy allows.
///
/// Names are wasmparser's feature names in snake_case (`simd`, `relaxed_simd`, `threads`,
/// `multi_memory`, `memory64`, `tail_call`, `exceptions`, `gc`, ...); [`Features::known`] lists
/// them all. Validation in core uses exactly this set, so a module that needs a proposal outside
/// it is `rejected: feature_disabled` on every runtime alike.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Features(WasmFeatures);

impl Features {
    /// WebAssembly 2.0: MVP, mutable globals, bulk memory, reference types, sign extension,
    /// saturating float-to-int, multi-value and SIMD.
    pub const WASM2: Features = Features(WasmFeatures::WASM2);

    /// WebAssembly 3.0 (as wasmparser defines it) without `threads`: adds GC, tail calls,
    /// extended constants, typed function references, multi-memory, relaxed SIMD, exceptions and
    /// memory64.
    pub const WASM3_NO_THREADS: Features =
        Features(WasmFeatures::WASM3.difference(WasmFeatures::THREADS));

    /// Every proposal wasmparser knows (for describing modules, never as a policy).
    pub const ALL: Features = Features(WasmFeatures::all());

    /// Wraps a wasmparser feature set.
    pub const fn from_wasmparser(f: WasmFeatures) -> Self {
        Features(f)
    }

    /// The wasmparser feature set, for validators and runtimes.
    pub const fn to_wasmparser(self) -> WasmFeatures {
        self.0
    }

    /// Every feature name wasmparser knows, in declaration order.
    pub fn known() -> impl Iterator<Item = &'static str> {
        WasmFeatures::FLAGS.iter().map(|f| f.name())
    }

    fn flag(name: &str) -> Option<WasmFeatures> {
        WasmFeatures::from_name(&name.to_ascii_uppercase()).filter(|_| {
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
    }

    /// Whether `name` is a feature name wasmparser knows (snake_case).
    pub fn is_known(name: &str) -> bool {
        Self::flag(name).is_some()
    }

    /// Whether the named proposal is allowed. Unknown names are not.
    pub fn is_enabled(&self, name: &str) -> bool {
        Self::flag(name).is_some_and(|f| self.0.contains(f))
    }

    /// Allows or forbids the named proposal.
    ///
    /// # Errors
    /// An unknown name is an error naming it.
    pub fn set(&mut self, name: &str, enabled: bool) -> Result<(), String> {
        let flag = Self::flag(name).ok_or_else(|| unknown_feature(name))?;
        self.0.set(flag, enabled);
        Ok(())
    }

    /// Builder form of [`Features::set`] for names known at compile time.
    ///
    /// # Panics
    /// Panics on a name wasmparser does not know; use [`Features::set`] for untrusted names.
    #[must_use]
    pub fn with(mut self, name: &str, enabled: bool) -> Self {
        if let Err(e) = self.set(name, enabled) {
            panic!("{e}");
        }
        self
    }

    /// The names of the allowed features.
    pub fn enabled_names(&self) -> Vec<&'static str> {
        WasmFeatures::FLAGS
            .iter()
            .filter(|f| self.0.contains(*f.value()))
            .map(|f| f.name())
            .collect()
    }

    /// Names (snake_case) of the features in `self` but not in `other`.
    pub fn names_missing_from(&self, other: &Features) -> Vec<String> {
        WasmFeatures::FLAGS
            .iter()
            .filter(|f| self.0.contains(*f.value()) && !other.0.contains(*f.value()))
            .map(|f| f.name().to_ascii_lowercase())
            .collect()
    }

    pub(crate) fn apply(&mut self, overrides: &BTreeMap<String, bool>) -> Result<(), String> {
        for (name, on) in overrides {
            self.set(name, *on)?;
        }
        Ok(())
    }
}

pub(crate) fn unknown_feature(name: &str) -> String {
    let known: Vec<String> = Features::known().map(|n| n.to_ascii_lowercase()).collect();
    format!(
        "unknown feature `{name}` in [features]; known features: {}",
        known.join(", ")
    )
}

impl fmt::Debug for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.enabled_names().iter().map(|n| n.to_ascii_lowercase()))
            .finish()
    }
}

impl Serialize for Features {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<String, bool> = WasmFeatures::FLAGS
            .iter()
            .map(|f| (f.name().to_ascii_lowercase(), self.0.contains(*f.value())))
            .collect();
        map.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let mut f = Features::WASM2;
        assert!(f.is_enabled("simd"));
        assert!(!f.is_enabled("threads"));
        f.set("threads", true).unwrap();
        assert!(f.is_enabled("threads"));
        f.set("simd", false).unwrap();
        assert!(!f.is_enabled("simd"));
        assert!(f.set("SIMD", true).is_err(), "names are snake_case");
        let err = f.set("warp_drive", true).unwrap_err();
        assert!(
            err.contains("warp_drive") && err.contains("relaxed_simd"),
            "{err}"
        );
        for name in [
            "simd",
            "relaxed_simd",
            "threads",
            "multi_memory",
            "memory64",
            "tail_call",
            "exceptions",
            "gc",
            "function_references",
            "extended_const",
            "bulk_memory",
            "reference_types",
            "multi_value",
            "wide_arithmetic",
            "custom_page_sizes",
        ] {
            assert!(Features::is_known(name), "{name}");
        }
    }

    #[test]
    fn presets_have_no_threads() {
        assert!(!Features::WASM3_NO_THREADS.is_enabled("threads"));
        assert!(Features::WASM3_NO_THREADS.is_enabled("gc"));
        assert_eq!(
            Features::WASM3_NO_THREADS
                .names_missing_from(&Features::WASM2)
                .len(),
            8
        );
    }
}
