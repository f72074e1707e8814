//! One module on several runtimes, compared: `cage run --runtime all` and `cage conformance
//! MODULE` without a case file.
//!
//! Each runtime runs the module once under the same policy. With read-write directories each
//! run works in its own scratch copy of them ([`crate::scratch`]), so every runtime starts
//! from the same files and the user's directories are not changed. Compared: the outcome, the
//! exit code, the returned values, the fuel consumed, and digests of stdout, stderr and the
//! read-write directories after the run. Wall time, compile time and messages (each runtime
//! words its traps its own way) are shown, not compared. A runtime that declares it cannot run
//! a proposal the module uses (`rejected: unsupported`) is shown and left out of the
//! comparison, as the conformance matrix leaves it out.

use std::process::ExitCode;

use cage::{
    CacheResult, DiskCache, HostFunctions, Invocation, Outcome, Policy, Rejection, Report,
    RuntimeName, on_guest_thread,
};
use serde_json::{Map, Value as Json, json};

use crate::scratch::{Scratch, sha256_hex};

/// One runtime's run.
#[derive(Debug)]
pub(crate) struct Row {
    /// The runtime.
    pub(crate) runtime: RuntimeName,
    /// Its report.
    pub(crate) report: Report,
    /// SHA-256 of the captured stdout.
    pub(crate) stdout_sha256: String,
    /// SHA-256 of the captured stderr.
    pub(crate) stderr_sha256: String,
    /// Digest of the read-write directories after the run; `None` without any.
    pub(crate) files_sha256: Option<String>,
}

impl Row {
    /// Whether the runtime declared it cannot run the module: shown, not compared.
    fn unsupported(&self) -> bool {
        self.report.error == Some(Rejection::Unsupported)
    }
}

/// The compared quantities of a row, by the key the report and the verdict use.
fn compared(row: &Row) -> Vec<(&'static str, String)> {
    let r = &row.report;
    let outcome = match r.outcome() {
        Outcome::Exited(_) => "exited".to_owned(),
        Outcome::Returned(_) => "returned".to_owned(),
        o => o.to_string().replacen(':', ": ", 1),
    };
    vec![
        ("outcome", outcome),
        ("exit_code", opt(r.exit_code)),
        ("values", values(r)),
        ("fuel_consumed", opt(r.fuel_consumed)),
        ("stdout", row.stdout_sha256.clone()),
        ("stderr", row.stderr_sha256.clone()),
        (
            "files",
            row.files_sha256.clone().unwrap_or_else(|| "-".into()),
        ),
        ("output_truncated", r.output_truncated.to_string()),
    ]
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn values(r: &Report) -> String {
    if r.values.is_empty() {
        return "-".to_owned();
    }
    r.values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// What the compile cache did for a run, from the runtime's counters before and after.
pub(crate) fn cache_result(
    before: &cage::CacheStats,
    after: &cage::CacheStats,
) -> Option<CacheResult> {
    if after.rejected > before.rejected {
        Some(CacheResult::Rejected)
    } else if after.disk_hits + after.memory_hits > before.disk_hits + before.memory_hits {
        Some(CacheResult::Hit)
    } else if after.misses > before.misses {
        Some(CacheResult::Miss)
    } else {
        None
    }
}

/// Runs `bytes` on `runtime` once under `policy`: the report, with what the disk cache did.
///
/// # Errors
/// The runtime cannot be made: its exit status, kind and message.
pub(crate) fn run_on(
    runtime: RuntimeName,
    policy: &Policy,
    bytes: &[u8],
    host: &HostFunctions,
    invocation: &Invocation,
    cache: Option<&DiskCache>,
) -> Result<Report, (u8, crate::ErrorKind, String)> {
    let rt = cage::runtime_named(runtime, policy).map_err(|e| {
        let code = crate::runtime_error_status(&e);
        let kind = if code == crate::EXIT_HOST {
            crate::ErrorKind::Host
        } else {
            crate::ErrorKind::Config
        };
        (code, kind, e.to_string())
    })?;
    if let Some(c) = cache {
        rt.set_disk_cache(Some(c.clone()));
    }
    let before = rt.cache_stats();
    let mut report = on_guest_thread(policy, || cage::run(rt.as_ref(), bytes, host, invocation))
        .unwrap_or_else(|e| Report::new(rt.name(), &e.outcome(), e.message()));
    if cache.is_some() {
        report.cache = cache_result(&before, &rt.cache_stats());
    }
    Ok(report)
}

/// The module run on each runtime.
#[derive(Debug)]
pub(crate) struct Comparison {
    /// One row per runtime, in the order asked.
    pub(crate) rows: Vec<Row>,
}

/// One quantity that differs, with each compared runtime's value.
#[derive(Debug)]
pub(crate) struct Difference {
    /// The report key (`fuel_consumed`, `stdout`, …).
    pub(crate) key: &'static str,
    /// Each compared runtime's value.
    pub(crate) values: Vec<(RuntimeName, String)>,
}

/// Runs the module on every runtime of `runtimes`, each in scratch copies of the read-write
/// directories.
///
/// # Errors
/// A runtime that cannot be made, or a directory that cannot be copied.
pub(crate) fn compare(
    runtimes: &[RuntimeName],
    policy: &Policy,
    bytes: &[u8],
    host: &HostFunctions,
    invocation: &Invocation,
    cache: Option<&DiskCache>,
) -> Result<Comparison, (u8, crate::ErrorKind, String)> {
    let mut rows = Vec::new();
    for &runtime in runtimes {
        let (p, scratch) = Scratch::for_policy(policy)
            .map_err(|e| (crate::EXIT_NOINPUT, crate::ErrorKind::Filesystem, e))?;
        let report = run_on(runtime, &p, bytes, host, invocation, cache)?;
        rows.push(Row {
            runtime,
            stdout_sha256: sha256_hex(report.stdout.as_bytes()),
            stderr_sha256: sha256_hex(report.stderr.as_bytes()),
            files_sha256: scratch.digest(),
            report,
        });
    }
    Ok(Comparison { rows })
}

impl Comparison {
    /// The rows compared: every runtime that did not declare the module unsupported.
    fn compared(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| !r.unsupported())
    }

    /// Every compared quantity on which the compared runtimes differ.
    pub(crate) fn differences(&self) -> Vec<Difference> {
        let rows: Vec<(&Row, Vec<(&'static str, String)>)> =
            self.compared().map(|r| (r, compared(r))).collect();
        let Some((_, first)) = rows.first() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, (key, value)) in first.iter().enumerate() {
            if rows.iter().any(|(_, q)| q[i].1 != *value) {
                out.push(Difference {
                    key,
                    values: rows
                        .iter()
                        .map(|(r, q)| (r.runtime, q[i].1.clone()))
                        .collect(),
                });
            }
        }
        out
    }

    /// Exit status: 1 when the compared runtimes disagree; otherwise the status of their
    /// common outcome (65 when no runtime could run the module).
    pub(crate) fn exit_code(&self) -> ExitCode {
        if !self.differences().is_empty() {
            return ExitCode::from(1);
        }
        match self.compared().next() {
            Some(r) => crate::exit_code(&r.report),
            None => ExitCode::from(crate::EXIT_REJECTED),
        }
    }

    /// `{"runtimes": {NAME: report + digests}, "agree", "differences", "not_compared"}`.
    pub(crate) fn to_json(&self) -> Json {
        let mut runtimes = Map::new();
        for r in &self.rows {
            let mut v = serde_json::to_value(&r.report).unwrap_or_default();
            v["stdout_sha256"] = json!(r.stdout_sha256);
            v["stderr_sha256"] = json!(r.stderr_sha256);
            v["files_sha256"] = json!(r.files_sha256);
            runtimes.insert(r.runtime.to_string(), v);
        }
        let differences: Vec<Json> = self
            .differences()
            .iter()
            .map(|d| {
                let values: Map<String, Json> = d
                    .values
                    .iter()
                    .map(|(rt, v)| (rt.to_string(), json!(v)))
                    .collect();
                json!({"key": d.key, "values": values})
            })
            .collect();
        let not_compared: Map<String, Json> = self
            .rows
            .iter()
            .filter(|r| r.unsupported())
            .map(|r| (r.runtime.to_string(), json!(r.report.message)))
            .collect();
        json!({
            "runtimes": runtimes,
            "agree": differences.is_empty(),
            "differences": differences,
            "not_compared": not_compared,
        })
    }

    /// The table, one row per runtime, then the verdict.
    pub(crate) fn print_table(&self) {
        let short = |h: &str| h.chars().take(12).collect::<String>();
        let header = [
            "runtime", "outcome", "exit", "values", "fuel", "wall ms", "stdout", "stderr", "files",
            "cache",
        ];
        let mut table: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
        for r in &self.rows {
            let rep = &r.report;
            let q = compared(r);
            table.push(vec![
                r.runtime.to_string(),
                q[0].1.clone(),
                q[1].1.clone(),
                q[2].1.clone(),
                q[3].1.clone(),
                format!("{:.2}", rep.wall_ms),
                format!("{} {}B", short(&r.stdout_sha256), rep.stdout.len()),
                format!("{} {}B", short(&r.stderr_sha256), rep.stderr.len()),
                r.files_sha256
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), short),
                rep.cache.map_or_else(
                    || "-".to_owned(),
                    |c| match c {
                        CacheResult::Hit => "hit".to_owned(),
                        CacheResult::Miss => "miss".to_owned(),
                        _ => "rejected".to_owned(),
                    },
                ),
            ]);
        }
        let widths: Vec<usize> = (0..header.len())
            .map(|c| {
                table
                    .iter()
                    .map(|row| row[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in &table {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            println!("{}", line.join("  ").trim_end());
        }
        for r in &self.rows {
            if let Some(m) = &r.report.message {
                println!("{}: {}", r.runtime, m);
            }
        }
        let compared: Vec<String> = self.compared().map(|r| r.runtime.to_string()).collect();
        for r in self.rows.iter().filter(|r| r.unsupported()) {
            println!(
                "{}: not compared (it declares it cannot run this module)",
                r.runtime
            );
        }
        let differences = self.differences();
        if compared.is_empty() {
            println!("agree: nothing to compare (no runtime can run the module)");
        } else if differences.is_empty() {
            println!(
                "agree: yes: outcome, exit code, values, fuel, stdout, stderr and files identical \
                 on {}",
                compared.join(", ")
            );
        } else {
            let keys: Vec<&str> = differences.iter().map(|d| d.key).collect();
            println!("agree: no: {} differ", keys.join(", "));
            for d in &differences {
                let per: Vec<String> = d.values.iter().map(|(rt, v)| format!("{rt} {v}")).collect();
                println!("  {}: {}", d.key, per.join("; "));
            }
        }
    }
}
