//! `--stub MODULE::NAME`: host functions that stand in for a module's non-WASI imports.
//!
//! A stub returns zeros of its declared result types (`0`, `0.0`, a zero `v128`, null
//! references) and costs [`cage::cost::WasiCosts::call`] fuel per call (100 by default: what
//! entering a WASI call costs), so a guest that loops on an import still pays for it. The
//! Sightglass markers `bench::start` and `bench::end` (type `[] -> []`) cost nothing: they only
//! bracket the measured region of a benchmark, and a run with them should cost what the program
//! itself costs.
//!
//! Patterns are `MODULE::NAME`, where either part may hold `*` wildcards (`bench::*` covers
//! every import of `bench`). Stubs never stand in for `wasi_snapshot_preview1` imports: WASI is
//! Cage's own.
//!
//! [`stub_functions`] is the one place stubs are built, for `run`, `inspect`, `profile`,
//! `conformance` and `bench`.

use cage::module::{ExternType, Import, ModuleInfo};
use cage::{FuncType, HostFunc, HostFunctions, Value};
use clap::Args;

/// The import module of WASI preview 1, which stubs never replace.
const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// The Sightglass benchmark markers: `bench.start` and `bench.end`, both `[] -> []`, each called
/// once around the measured region.
pub(crate) const SIGHTGLASS_MARKERS: [(&str, &str); 2] = [("bench", "start"), ("bench", "end")];

/// Whether `module::name` of type `ty` is a Sightglass marker (a stub of it costs no fuel).
pub(crate) fn is_sightglass_marker(module: &str, name: &str, ty: &FuncType) -> bool {
    SIGHTGLASS_MARKERS.contains(&(module, name)) && ty.params.is_empty() && ty.results.is_empty()
}

/// The `--stub` flag, shared by every command that runs or judges a module.
#[derive(Args, Debug, Default, Clone)]
pub(crate) struct StubArgs {
    /// Provide the import MODULE::NAME as a host function returning zeros of its result types
    /// and costing 100 fuel per call (`bench::start`/`bench::end`, the Sightglass markers: 0).
    /// `*` is a wildcard: `--stub 'bench::*'` covers every import of `bench` (repeatable).
    #[arg(long = "stub", value_name = "MODULE::NAME", value_parser = StubPattern::parse_arg)]
    pub(crate) stubs: Vec<StubPattern>,
}

impl StubArgs {
    /// The stubs for `info`'s imports under `costs`; patterns that matched no function import
    /// are reported on stderr (not an error: the same patterns serve many modules).
    pub(crate) fn host_functions(
        &self,
        info: Option<&ModuleInfo>,
        costs: &cage::cost::CostModel,
    ) -> HostFunctions {
        let Some(info) = info else {
            return HostFunctions::new();
        };
        let stubs = stub_functions(&info.imports, &self.stubs, costs.wasi.call);
        for p in &stubs.unmatched {
            eprintln!("cage: --stub {p}: the module imports no function it matches");
        }
        stubs.functions
    }
}

/// A `--stub` pattern: `MODULE::NAME`, either part with `*` wildcards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StubPattern {
    module: String,
    name: String,
}

impl StubPattern {
    /// Parses `MODULE::NAME`.
    pub(crate) fn parse_arg(s: &str) -> Result<Self, String> {
        let (module, name) = s.split_once("::").ok_or_else(|| {
            format!(
                "`{s}`: expected MODULE::NAME (an import's module and name, `*` for any: \
                 bench::*)"
            )
        })?;
        if module.is_empty() || name.is_empty() {
            return Err(format!("`{s}`: MODULE and NAME must not be empty"));
        }
        Ok(StubPattern {
            module: module.to_owned(),
            name: name.to_owned(),
        })
    }

    /// Whether the pattern covers the import `module::name`.
    pub(crate) fn matches(&self, module: &str, name: &str) -> bool {
        glob(&self.module, module) && glob(&self.name, name)
    }
}

impl std::fmt::Display for StubPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}::{}", self.module, self.name)
    }
}

/// `*` matches any run of characters (none included); everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Stubs built for a module.
#[derive(Debug, Default)]
pub(crate) struct Stubs {
    /// One host function per function import a pattern covers.
    pub(crate) functions: HostFunctions,
    /// The imports stubbed, `module::name`, in import order.
    pub(crate) stubbed: Vec<String>,
    /// Patterns that covered no function import.
    pub(crate) unmatched: Vec<StubPattern>,
}

/// A stub for every function import of `imports` that a pattern covers (WASI preview 1
/// excepted), each costing `call_cost` fuel per call (Sightglass markers: 0).
pub(crate) fn stub_functions(
    imports: &[Import],
    patterns: &[StubPattern],
    call_cost: u64,
) -> Stubs {
    let mut out = Stubs::default();
    let mut used = vec![false; patterns.len()];
    for imp in imports {
        let ExternType::Func { ty } = &imp.ty else {
            continue;
        };
        if imp.module == WASI_MODULE {
            continue;
        }
        let mut covered = false;
        for (i, p) in patterns.iter().enumerate() {
            if p.matches(&imp.module, &imp.name) {
                used[i] = true;
                covered = true;
            }
        }
        if !covered {
            continue;
        }
        let results: Vec<Value> = ty.results.iter().map(|t| Value::default_for(*t)).collect();
        let cost = if is_sightglass_marker(&imp.module, &imp.name, ty) {
            0
        } else {
            call_cost
        };
        let f = HostFunc::new(
            imp.module.clone(),
            imp.name.clone(),
            ty.clone(),
            move |_, _| Ok(results.clone()),
        )
        .with_fuel_cost(cost);
        out.functions.insert(f);
        out.stubbed.push(format!("{}::{}", imp.module, imp.name));
    }
    out.unmatched = patterns
        .iter()
        .zip(used)
        .filter(|(_, u)| !u)
        .map(|(p, _)| p.clone())
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imports(wat: &str) -> Vec<Import> {
        let wasm = cage::module::to_binary(wat.as_bytes()).unwrap();
        cage::module::describe(&wasm).unwrap().imports
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(glob("*", ""));
        assert!(glob("*", "start"));
        assert!(glob("st*", "start"));
        assert!(glob("*rt", "start"));
        assert!(glob("s*a*t", "start"));
        assert!(!glob("s*a*t", "stop"));
        assert!(!glob("start", "starts"));
        assert!(!glob("ab*ba", "aba"));
        assert!(StubPattern::parse_arg("bench").is_err());
        assert!(StubPattern::parse_arg("::x").is_err());
        let p = StubPattern::parse_arg("bench::*").unwrap();
        assert!(p.matches("bench", "start") && !p.matches("benchx", "start"));
        assert_eq!(p.to_string(), "bench::*");
    }

    #[test]
    fn stubs_cover_what_the_patterns_match_and_markers_cost_nothing() {
        let list = imports(
            r#"(module
                 (import "bench" "start" (func))
                 (import "bench" "end" (func))
                 (import "env" "get" (func (param i32) (result i64 f32)))
                 (import "wasi_snapshot_preview1" "sched_yield" (func (result i32))))"#,
        );
        let patterns = vec![
            StubPattern::parse_arg("bench::*").unwrap(),
            StubPattern::parse_arg("env::get").unwrap(),
            StubPattern::parse_arg("wasi_snapshot_preview1::*").unwrap(),
            StubPattern::parse_arg("other::x").unwrap(),
        ];
        let s = stub_functions(&list, &patterns, 100);
        assert_eq!(s.stubbed, ["bench::start", "bench::end", "env::get"]);
        assert_eq!(
            s.unmatched.len(),
            2,
            "WASI is never stubbed: {:?}",
            s.unmatched
        );
        assert_eq!(s.functions.get("bench", "start").unwrap().fuel_cost, 0);
        assert_eq!(s.functions.get("bench", "end").unwrap().fuel_cost, 0);
        assert_eq!(s.functions.get("env", "get").unwrap().fuel_cost, 100);
        // A `bench.start` of another type is not the marker: it costs like any stub.
        let odd = imports(r#"(module (import "bench" "start" (func (param i32))))"#);
        let s = stub_functions(&odd, &patterns[..1], 100);
        assert_eq!(s.functions.get("bench", "start").unwrap().fuel_cost, 100);
    }
}
