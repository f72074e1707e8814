//! The proposals allow-list: wasmparser's proposal names in snake_case.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};
use wasmparser::WasmFeatures;

macro_rules! proposals {
    ($($var:ident = $name:literal => $flag:ident,)*) => {
        /// A WebAssembly proposal a policy can allow: wasmparser's feature names, spelled in
        /// snake_case in the policy file, the JSON and the CLI (`simd`, `relaxed_simd`,
        /// `threads`, `multi_memory`, `memory64`, `tail_call`, `exceptions`, `gc`, …).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Proposal {
            $(
                #[doc = concat!("`", $name, "`")]
                $var,
            )*
        }

        impl Proposal {
            /// Every proposal, in wasmparser's declaration order.
            pub const ALL: &'static [Proposal] = &[$(Proposal::$var,)*];

            /// The snake_case name: the policy key under `[features]`.
            pub fn name(self) -> &'static str {
                match self { $(Proposal::$var => $name,)* }
            }

            /// The name of wasmparser's flag for it (`SIMD`), for backends that configure a
            /// runtime with wasmparser's feature set.
            pub fn wasmparser_name(self) -> &'static str {
                match self { $(Proposal::$var => stringify!($flag),)* }
            }

            fn flag(self) -> WasmFeatures {
                match self { $(Proposal::$var => WasmFeatures::$flag,)* }
            }
        }
    };
}

proposals! {
    MutableGlobal = "mutable_global" => MUTABLE_GLOBAL,
    SaturatingFloatToInt = "saturating_float_to_int" => SATURATING_FLOAT_TO_INT,
    SignExtension = "sign_extension" => SIGN_EXTENSION,
    ReferenceTypes = "reference_types" => REFERENCE_TYPES,
    MultiValue = "multi_value" => MULTI_VALUE,
    BulkMemory = "bulk_memory" => BULK_MEMORY,
    Simd = "simd" => SIMD,
    RelaxedSimd = "relaxed_simd" => RELAXED_SIMD,
    Threads = "threads" => THREADS,
    SharedEverythingThreads = "shared_everything_threads" => SHARED_EVERYTHING_THREADS,
    TailCall = "tail_call" => TAIL_CALL,
    Floats = "floats" => FLOATS,
    MultiMemory = "multi_memory" => MULTI_MEMORY,
    Exceptions = "exceptions" => EXCEPTIONS,
    Memory64 = "memory64" => MEMORY64,
    ExtendedConst = "extended_const" => EXTENDED_CONST,
    ComponentModel = "component_model" => COMPONENT_MODEL,
    FunctionReferences = "function_references" => FUNCTION_REFERENCES,
    MemoryControl = "memory_control" => MEMORY_CONTROL,
    Gc = "gc" => GC,
    CustomPageSizes = "custom_page_sizes" => CUSTOM_PAGE_SIZES,
    LegacyExceptions = "legacy_exceptions" => LEGACY_EXCEPTIONS,
    GcTypes = "gc_types" => GC_TYPES,
    StackSwitching = "stack_switching" => STACK_SWITCHING,
    WideArithmetic = "wide_arithmetic" => WIDE_ARITHMETIC,
    CmValues = "cm_values" => CM_VALUES,
    CmNestedNames = "cm_nested_names" => CM_NESTED_NAMES,
    CmAsync = "cm_async" => CM_ASYNC,
    CmAsyncStackful = "cm_async_stackful" => CM_ASYNC_STACKFUL,
    CmMoreAsyncBuiltins = "cm_more_async_builtins" => CM_MORE_ASYNC_BUILTINS,
    CmThreading = "cm_threading" => CM_THREADING,
    CmErrorContext = "cm_error_context" => CM_ERROR_CONTEXT,
    CmFixedLengthLists = "cm_fixed_length_lists" => CM_FIXED_LENGTH_LISTS,
    CmGc = "cm_gc" => CM_GC,
    CallIndirectOverlong = "call_indirect_overlong" => CALL_INDIRECT_OVERLONG,
    BulkMemoryOpt = "bulk_memory_opt" => BULK_MEMORY_OPT,
    CustomDescriptors = "custom_descriptors" => CUSTOM_DESCRIPTORS,
    CompactImports = "compact_imports" => COMPACT_IMPORTS,
    CmMap = "cm_map" => CM_MAP,
    Cm64 = "cm64" => CM64,
    CmImplements = "cm_implements" => CM_IMPLEMENTS,
    CmCanonNames = "cm_canon_names" => CM_CANON_NAMES,
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Proposal {
    type Err = String;

    /// Parses a snake_case proposal name.
    fn from_str(s: &str) -> Result<Self, String> {
        Proposal::ALL
            .iter()
            .copied()
            .find(|p| p.name() == s)
            .ok_or_else(|| unknown_feature(s))
    }
}

impl Serialize for Proposal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The set of WebAssembly proposals a policy allows.
///
/// Validation in core uses exactly this set, so a module that needs a proposal outside it is
/// `rejected: feature_disabled` on every runtime alike.
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

    /// Every proposal (for describing modules, never as a policy).
    pub const ALL: Features = Features(WasmFeatures::all());

    /// No proposal at all (not even the MVP's mutable globals).
    pub const NONE: Features = Features(WasmFeatures::empty());
    /// WebAssembly 1.0 (MVP): what every module may use whatever the policy allows.
    pub const MVP: Features = Features(WasmFeatures::MVP);

    /// The set of exactly these proposals.
    pub fn of(proposals: &[Proposal]) -> Self {
        let mut f = Features::NONE;
        for p in proposals {
            f.set(*p, true);
        }
        f
    }

    pub(crate) const fn from_wasmparser(f: WasmFeatures) -> Self {
        Features(f)
    }

    pub(crate) const fn to_wasmparser(self) -> WasmFeatures {
        self.0
    }

    /// Whether `p` is allowed.
    pub fn contains(&self, p: Proposal) -> bool {
        self.0.contains(p.flag())
    }

    /// Allows or forbids `p`.
    pub fn set(&mut self, p: Proposal, enabled: bool) {
        self.0.set(p.flag(), enabled);
    }

    /// Builder form of [`Features::set`].
    #[must_use]
    pub fn with(mut self, p: Proposal, enabled: bool) -> Self {
        self.set(p, enabled);
        self
    }

    /// Allows or forbids the proposal named `name` (snake_case), for untrusted input.
    ///
    /// # Errors
    /// An unknown name is an error naming it and listing the known ones.
    pub fn set_by_name(&mut self, name: &str, enabled: bool) -> Result<(), String> {
        self.set(name.parse::<Proposal>()?, enabled);
        Ok(())
    }

    /// The allowed proposals, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = Proposal> + '_ {
        Proposal::ALL.iter().copied().filter(|p| self.contains(*p))
    }

    /// The proposals in both sets.
    #[must_use]
    pub fn intersection(&self, other: &Features) -> Features {
        Features(self.0.intersection(other.0))
    }

    /// The proposals in `self` but not in `other`.
    pub fn missing_from(&self, other: &Features) -> Vec<Proposal> {
        self.iter().filter(|p| !other.contains(*p)).collect()
    }

    pub(crate) fn apply(&mut self, overrides: &BTreeMap<String, bool>) -> Result<(), String> {
        for (name, on) in overrides {
            self.set_by_name(name, *on)?;
        }
        Ok(())
    }
}

pub(crate) fn unknown_feature(name: &str) -> String {
    let known: Vec<&str> = Proposal::ALL.iter().map(|p| p.name()).collect();
    format!(
        "unknown feature `{name}` in [features]; known features: {}",
        known.join(", ")
    )
}

impl fmt::Debug for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Proposal::name))
            .finish()
    }
}

impl Serialize for Features {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&str, bool> = Proposal::ALL
            .iter()
            .map(|p| (p.name(), self.contains(*p)))
            .collect();
        map.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitflags::Flags;

    #[test]
    fn names_round_trip() {
        let mut f = Features::WASM2;
        assert!(f.contains(Proposal::Simd));
        assert!(!f.contains(Proposal::Threads));
        f.set_by_name("threads", true).unwrap();
        assert!(f.contains(Proposal::Threads));
        f.set(Proposal::Simd, false);
        assert!(!f.contains(Proposal::Simd));
        assert!(f.set_by_name("SIMD", true).is_err(), "names are snake_case");
        let err = f.set_by_name("warp_drive", true).unwrap_err();
        assert!(
            err.contains("warp_drive") && err.contains("relaxed_simd"),
            "{err}"
        );
        for p in Proposal::ALL {
            assert_eq!(p.name().parse::<Proposal>().unwrap(), *p);
            assert_eq!(
                WasmFeatures::from_name(p.wasmparser_name()),
                Some(p.flag()),
                "{p}"
            );
        }
        assert_eq!(Proposal::ALL.len(), WasmFeatures::FLAGS.len());
    }

    #[test]
    fn presets_have_no_threads() {
        assert!(!Features::WASM3_NO_THREADS.contains(Proposal::Threads));
        assert!(Features::WASM3_NO_THREADS.contains(Proposal::Gc));
        assert_eq!(
            Features::WASM3_NO_THREADS
                .missing_from(&Features::WASM2)
                .len(),
            8
        );
    }
}
