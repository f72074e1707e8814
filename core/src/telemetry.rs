//! Per-call metrics and spans.
//!
//! Every call into a guest (instantiation with its start function, `call`, `call_func`, typed
//! calls) records, through the [`metrics`] facade, when the application turned metrics on with
//! [`enable_metrics`] (off by default: timing a 20 ns typed call would double it):
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `cage_calls_total` | counter | `runtime`, `module`, `outcome`, `kind` | calls by outcome class (`returned`, `trapped`, …) and kind (the trap or rejection name, or `none`) |
//! | `cage_call_fuel` | histogram | `runtime`, `module` | fuel the call consumed (metered sandboxes only) |
//! | `cage_call_seconds` | histogram | `runtime`, `module` | wall time of the call |
//! | `cage_peak_memory_bytes` | histogram | `runtime`, `module` | the sandbox's peak linear memory after the call |
//!
//! `module` is the first 12 hex digits of the module's SHA-256. No exporter is chosen for the
//! application: install any `metrics` recorder (the CLI renders Prometheus text with
//! `metrics-exporter-prometheus`). Spans: every call is inside a `tracing` span `cage.call` with
//! `runtime`, `module` and `export` (instantiation: `export = "(instantiate)"`), so a
//! subscriber sees limit violations and traps in context.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::Error;
use crate::names::RuntimeName;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns per-call metrics on or off for the whole process (default: off).
pub fn enable_metrics(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether per-call metrics are on.
#[inline]
pub fn metrics_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The `module` label: 12 hex digits of the SHA-256.
pub(crate) fn module_label(sha256: &str) -> String {
    sha256.chars().take(12).collect()
}

/// What one call did, for the metrics.
pub(crate) struct CallRecord<'a> {
    pub(crate) runtime: RuntimeName,
    pub(crate) module: &'a str,
    pub(crate) result: Result<(), &'a Error>,
    pub(crate) fuel: Option<u64>,
    pub(crate) wall: Duration,
    pub(crate) peak_memory: u64,
}

/// Records one call.
pub(crate) fn record(c: &CallRecord<'_>) {
    let module = module_label(c.module);
    let runtime = c.runtime.as_str();
    let (outcome, kind) = match c.result {
        Ok(()) => ("returned".to_owned(), "none".to_owned()),
        Err(e) => {
            let o = e.outcome();
            let class = o.class().to_string();
            let kind = match (e.as_trap(), e.as_rejection(), e.as_host_failure()) {
                (Some(t), _, _) => t.to_string(),
                (_, Some(r), _) => r.to_string(),
                (_, _, Some(h)) => h.to_string(),
                _ => "none".to_owned(),
            };
            (class, kind)
        }
    };
    metrics::counter!(
        "cage_calls_total",
        "runtime" => runtime,
        "module" => module.clone(),
        "outcome" => outcome,
        "kind" => kind
    )
    .increment(1);
    if let Some(f) = c.fuel {
        metrics::histogram!("cage_call_fuel", "runtime" => runtime, "module" => module.clone())
            .record(f as f64);
    }
    metrics::histogram!("cage_call_seconds", "runtime" => runtime, "module" => module.clone())
        .record(c.wall.as_secs_f64());
    metrics::histogram!("cage_peak_memory_bytes", "runtime" => runtime, "module" => module)
        .record(c.peak_memory as f64);
}
