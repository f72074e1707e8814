//! The run report: one JSON object per run, the same shape for every runtime.

use serde::{Deserialize, Serialize};

use crate::names::RuntimeName;
use crate::outcome::{HostFailure, Outcome, OutcomeClass, Rejection, Trap};
use crate::value::Value;

/// What happened in one run. Serialises to the JSON contract documented in docs/report.md:
///
/// ```json
/// {"runtime":"wasmtime","outcome":"trapped","values":[],"exit_code":null,"trap":"out_of_fuel",
///  "error":null,"message":"…","fuel_consumed":100000,"wall_ms":1.7,"peak_memory_bytes":65536,
///  "stdout":"","stderr":""}
/// ```
///
/// Fields after `stderr` (`output_truncated`, `compile_ms`, `module_sha256`, `failure`,
/// `cache`, `peak_table_elements`) are extensions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// Runtime name.
    pub runtime: RuntimeName,
    /// `returned`, `exited`, `trapped`, `rejected` or `host_failure`.
    pub outcome: OutcomeClass,
    /// Returned values as `"i32:42"` strings; empty unless `returned`.
    pub values: Vec<Value>,
    /// Exit code when `exited`.
    pub exit_code: Option<i32>,
    /// Trap name when `trapped`.
    pub trap: Option<Trap>,
    /// Rejection name when `rejected`.
    pub error: Option<Rejection>,
    /// The runtime's or Cage's explanation; null when the run returned or exited.
    pub message: Option<String>,
    /// Fuel consumed by the start function and the call; null without metering.
    pub fuel_consumed: Option<u64>,
    /// Wall time of instantiation plus the call, in milliseconds (compile time excluded).
    pub wall_ms: f64,
    /// Largest total linear-memory size seen, in bytes.
    pub peak_memory_bytes: u64,
    /// Captured stdout (lossy UTF-8).
    pub stdout: String,
    /// Captured stderr (lossy UTF-8).
    pub stderr: String,
    /// Whether output past `limits.max_output` was refused.
    #[serde(default)]
    pub output_truncated: bool,
    /// Wall time of validation and compilation, in milliseconds.
    #[serde(default)]
    pub compile_ms: f64,
    /// SHA-256 of the module binary; null when it could not be read.
    #[serde(default)]
    pub module_sha256: Option<String>,
    /// What part of the host failed, when `host_failure` (extension).
    #[serde(default)]
    pub failure: Option<HostFailure>,
    /// What the compiled-module disk cache did, when one was used (`cage run --cache`;
    /// extension): `hit`, `miss` (compiled and stored) or `rejected` (an entry was refused;
    /// compiled and stored again). Absent without a cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheResult>,
    /// Largest size any one table reached, in elements (extension): what
    /// `limits.max_table_elements` caps, as `peak_memory_bytes` is for memory.
    #[serde(default)]
    pub peak_table_elements: u64,
}

/// What the compiled-module cache did for one run (see [`Report::cache`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CacheResult {
    /// The code came from the cache.
    Hit,
    /// Nothing cached: compiled (and stored).
    Miss,
    /// A cached entry failed a check: ignored, compiled and stored again.
    Rejected,
}

impl Report {
    /// A report with this outcome and everything else empty.
    pub fn new(runtime: RuntimeName, outcome: &Outcome, message: Option<String>) -> Self {
        let mut r = Report {
            runtime,
            outcome: outcome.class(),
            values: Vec::new(),
            exit_code: None,
            trap: None,
            error: None,
            message,
            fuel_consumed: None,
            wall_ms: 0.0,
            peak_memory_bytes: 0,
            stdout: String::new(),
            stderr: String::new(),
            output_truncated: false,
            compile_ms: 0.0,
            module_sha256: None,
            failure: None,
            cache: None,
            peak_table_elements: 0,
        };
        match outcome {
            Outcome::Returned(v) => r.values = v.clone(),
            Outcome::Exited(c) => r.exit_code = Some(*c),
            Outcome::Trapped(t) => r.trap = Some(*t),
            Outcome::Rejected(e) => r.error = Some(*e),
            Outcome::HostFailure(h) => r.failure = Some(*h),
        }
        r
    }

    /// The outcome this report describes.
    pub fn outcome(&self) -> Outcome {
        match (
            self.outcome,
            self.trap,
            self.error,
            self.exit_code,
            self.failure,
        ) {
            (OutcomeClass::Trapped, Some(t), ..) => Outcome::Trapped(t),
            (OutcomeClass::Rejected, _, Some(e), ..) => Outcome::Rejected(e),
            (OutcomeClass::Exited, _, _, Some(c), _) => Outcome::Exited(c),
            (OutcomeClass::HostFailure, .., Some(h)) => Outcome::HostFailure(h),
            _ => Outcome::Returned(self.values.clone()),
        }
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain strings, numbers and options cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}
