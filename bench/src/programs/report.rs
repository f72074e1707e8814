//! Reports of program benchmarks: the terminal tables, the JSON document (schema
//! `cage-bench/2`), the SVG chart and the comparison with a saved run (`--baseline OLD.json`).
//!
//! Why one file over 800 lines: the four outputs render the same records; kept together so they
//! cannot drift apart.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use cage::RuntimeName;
use serde_json::{Value as Json, json};

use super::stats::{Comparison, Phase as PhaseStats};
use super::{Engine, Options, Phase, ProgramResult, Status, Target};
use crate::Limits;
use crate::report::{LogAxis, Machine, WASMER_VERSION, WASMTIME_VERSION, colour, esc, fmt_ns};

/// `schema` of the JSON document of program benchmarks.
pub const SCHEMA: &str = "cage-bench/2";

/// Execution regions shorter than this on the raw runtime (100 µs) are shown but not counted
/// against the Cage ÷ raw bound: 2 % of them is less than the jitter of a region that short
/// (first touches, caches, a timer read costs ~25 ns), and what differs there is the cost of
/// the markers' host calls (Cage's and the raw baselines' differ by tens of nanoseconds, as
/// `cargo run --release -p cage-bench --example marker_cost` measures), not the program's code.
pub const RESOLUTION_NS: f64 = 100_000.0;
/// `wasmtime-wasi`, the raw Wasmtime baseline's WASI.
pub const WASMTIME_WASI_VERSION: &str = "48.0.8";
/// `wasmer-wasix`, the raw Wasmer baseline's WASI.
pub const WASMER_WASIX_VERSION: &str = "0.703.0";
/// `wasmer-middlewares`, whose `Metering` is the raw Wasmer baseline's fuel.
pub const WASMER_MIDDLEWARES_VERSION: &str = "7.3.0";

/// Everything a run of programs produced.
#[derive(Clone, Debug)]
pub struct Run {
    /// The machine.
    pub machine: Machine,
    /// `sightglass`, the suite directory, or the module's path.
    pub source: String,
    /// How it ran.
    pub options: Options,
    /// The Cage runtime the other runtimes are compared with.
    pub reference: RuntimeName,
    /// Per program, in suite order.
    pub programs: Vec<ProgramResult>,
}

/// Notes printed with every report of programs.
pub const NOTES: &[&str] = &[
    "execute is the region between bench.start and bench.end (both cost no fuel), or the whole _start without them; instantiate is a new sandbox with its WASI context and instantiation; compile is cold (no cache), compile-memory the runtime's memory cache, compile-disk Cage's authenticated disk cache.",
    "Cells: median [95 % confidence interval of the median]. Ratios (×): of the means, with the 95 % Welch interval of the difference (Sightglass's effect size); n.s. = no significant difference.",
    "Every iteration was verified before it counted: exit code, stdout and stderr against the expected files (or the first runtime), fuel_consumed identical across Cage runtimes. Every engine runs with Cage's frozen clock and seeded random stream (raw-wasmtime: wasmtime-wasi's clock hooks and random_get replaced; raw-wasmer: clock_time_get and random_get replaced), so every engine does the same work.",
    "raw-* run plain and fuel only: raw-wasmtime's fuel is Wasmtime's consume_fuel, raw-wasmer's the stock wasmer-middlewares Metering (1 per operator).",
    "ns/fuel: execute time ÷ fuel consumed in it, per iteration, in fuel+deadline (cage calibrate's configuration), else fuel: median (min–max).",
];

fn ratio_cell(c: Option<Comparison>) -> String {
    match c {
        None => "—".to_owned(),
        Some(c) if !c.lo.is_finite() && !c.hi.is_finite() => format!("{:.2} (n=1)", c.ratio),
        Some(c) => format!(
            "{:.2} [{:.2}–{:.2}]{}",
            c.ratio,
            c.lo,
            c.hi,
            if c.significant { "" } else { " n.s." }
        ),
    }
}

fn cell(p: Option<&PhaseStats>) -> String {
    p.map_or_else(
        || "—".to_owned(),
        |p| {
            format!(
                "{} [{}–{}]",
                fmt_ns(p.median_ns),
                fmt_ns(p.ci_ns[0]),
                fmt_ns(p.ci_ns[1])
            )
        },
    )
}

/// Median, minimum and maximum of ratios.
fn spread(v: &[f64]) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    Some((median, s[0], s[n - 1]))
}

impl Run {
    /// Cage engines present, in order.
    fn cage_engines(&self) -> Vec<Engine> {
        self.options
            .engines
            .iter()
            .copied()
            .filter(|e| e.kind() == "cage")
            .collect()
    }

    /// The configuration ns/fuel is taken from: `fuel+deadline` when run, else `fuel`.
    fn fuel_config(&self) -> Option<Limits> {
        let both = Limits {
            fuel: true,
            deadline: true,
        };
        let fuel = Limits {
            fuel: true,
            deadline: false,
        };
        if self.options.configs.contains(&both) {
            Some(both)
        } else if self.options.configs.contains(&fuel) {
            Some(fuel)
        } else {
            None
        }
    }

    fn phase(
        p: &ProgramResult,
        engine: Engine,
        limits: Limits,
        phase: Phase,
    ) -> Option<&PhaseStats> {
        let t = p.get(engine, limits)?;
        (t.status == Status::Ok).then_some(())?;
        t.phases.get(&phase)
    }

    /// A Cage target against its raw twin in the same configuration, on one phase.
    pub fn vs_raw(
        p: &ProgramResult,
        engine: Engine,
        limits: Limits,
        phase: Phase,
    ) -> Option<Comparison> {
        if p.failure.is_some() {
            return None;
        }
        let twin = engine.twin()?;
        Comparison::of(
            Self::phase(p, twin, limits, phase)?,
            Self::phase(p, engine, limits, phase)?,
        )
    }

    /// A Cage target in `limits` against the same engine in `plain`, on the execution phase.
    pub fn vs_plain(p: &ProgramResult, engine: Engine, limits: Limits) -> Option<Comparison> {
        if p.failure.is_some() {
            return None;
        }
        Comparison::of(
            Self::phase(p, engine, Limits::PLAIN, Phase::Execute)?,
            Self::phase(p, engine, limits, Phase::Execute)?,
        )
    }

    /// Why a raw twin has no number for a program: its `n/a` reason.
    fn raw_gap(p: &ProgramResult, engine: Engine, limits: Limits) -> Option<String> {
        let twin = engine.twin()?;
        match &p.get(twin, limits)?.status {
            Status::NotApplicable(why) | Status::Failed(why) => Some(why.clone()),
            Status::Ok => None,
        }
    }

    fn measured_phases(&self) -> Vec<Phase> {
        let mut v: Vec<Phase> = Phase::ALL
            .into_iter()
            .filter(|p| {
                matches!(p, Phase::Instantiate | Phase::Execute) || self.options.phases.contains(p)
            })
            .collect();
        v.dedup();
        v
    }

    /// One program in detail: every target, every phase, comparisons.
    pub fn program_detail(&self, p: &ProgramResult) -> String {
        let mut s = String::new();
        let phases = self.measured_phases();
        let verdict = match &p.failure {
            Some(e) => format!("FAILED: {e}"),
            None => {
                let fuel = p
                    .targets
                    .iter()
                    .find_map(|t| (t.status == Status::Ok).then_some(t.fuel?));
                format!(
                    "verified{}{}",
                    fuel.map_or_else(String::new, |f| format!(
                        "; fuel {f} on every runtime{}",
                        p.targets
                            .iter()
                            .find_map(|t| t.region_fuel)
                            .map_or_else(String::new, |r| format!(" ({r} between the markers)"))
                    )),
                    if p.markers {
                        "; timed between bench.start and bench.end"
                    } else {
                        "; no markers: the whole _start is timed"
                    }
                )
            }
        };
        let _ = writeln!(s, "\n{}  {verdict}", p.name);
        if p.failure.is_some() {
            for t in &p.targets {
                if let Status::Failed(e) = &t.status {
                    let _ = writeln!(s, "  {:<32} failed: {e}", t.target.id());
                }
            }
            return s;
        }
        let _ = write!(s, "  {:<32}", "target");
        for ph in &phases {
            let _ = write!(s, " {:>26}", ph.name());
        }
        let _ = writeln!(
            s,
            " {:>22} {:>24} {:>22}",
            "execute min–max", "execute ×raw", "ns/fuel"
        );
        for t in &p.targets {
            let _ = write!(s, "  {:<32}", t.target.id());
            match &t.status {
                Status::Ok => {
                    for ph in &phases {
                        let _ = write!(s, " {:>26}", cell(t.phases.get(ph)));
                    }
                    let mm = t.phases.get(&Phase::Execute).map_or_else(
                        || "—".to_owned(),
                        |e| format!("{}–{}", fmt_ns(e.min_ns), fmt_ns(e.max_ns)),
                    );
                    let vs = if t.target.engine.kind() == "cage" {
                        Self::vs_raw(p, t.target.engine, t.target.limits, Phase::Execute)
                            .map_or_else(
                                || {
                                    Self::raw_gap(p, t.target.engine, t.target.limits)
                                        .map_or_else(|| "—".to_owned(), |_| "n/a".to_owned())
                                },
                                |c| ratio_cell(Some(c)),
                            )
                    } else {
                        String::new()
                    };
                    let npf = t.ns_per_fuel.map_or_else(
                        || "—".to_owned(),
                        |f| format!("{:.3} ({:.3}–{:.3})", f.median, f.min, f.max),
                    );
                    let _ = writeln!(s, " {mm:>22} {vs:>24} {npf:>22}");
                }
                Status::NotApplicable(why) => {
                    let _ = writeln!(s, " n/a: {why}");
                }
                Status::Failed(why) => {
                    let _ = writeln!(s, " failed: {why}");
                }
            }
        }
        // Runtimes against the reference, per configuration, on every phase measured.
        let reference = Engine::Cage(self.reference);
        for &limits in &self.options.configs {
            for e in self.cage_engines() {
                if e == reference {
                    continue;
                }
                for ph in &phases {
                    let (Some(a), Some(b)) = (
                        Self::phase(p, reference, limits, *ph),
                        Self::phase(p, e, limits, *ph),
                    ) else {
                        continue;
                    };
                    if let Some(c) = Comparison::of(a, b) {
                        let _ = writeln!(
                            s,
                            "  {} {}: {}",
                            limits.name(),
                            ph.name(),
                            c.sentence(&e.name(), &reference.name())
                        );
                    }
                }
            }
        }
        s
    }

    /// The terminal report: per-program detail (for one program, or with `details`), then the
    /// summaries: Cage ÷ raw per phase, fuel overhead and ns/fuel per program and runtime, the
    /// comparisons between runtimes, and what failed or could not run.
    pub fn table(&self, details: bool) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "machine: {}", self.machine.describe());
        let _ = writeln!(
            s,
            "versions: cage {}, wasmtime {WASMTIME_VERSION} (wasmtime-wasi {WASMTIME_WASI_VERSION}), wasmer {WASMER_VERSION} (wasmer-wasix {WASMER_WASIX_VERSION}, wasmer-middlewares {WASMER_MIDDLEWARES_VERSION})",
            env!("CARGO_PKG_VERSION"),
        );
        let _ = writeln!(
            s,
            "programs: {} from {}; {} iterations after {} warm-up; configurations: {}",
            self.programs.len(),
            self.source,
            self.options.iterations,
            self.options.warmup,
            self.options
                .configs
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if details || self.programs.len() <= 3 {
            for p in &self.programs {
                s.push_str(&self.program_detail(p));
            }
        }
        s.push_str(&self.summary());
        s.push('\n');
        for n in NOTES {
            let _ = writeln!(s, "note: {n}");
        }
        s
    }

    fn summary(&self) -> String {
        let mut s = String::new();
        let engines = self.cage_engines();
        let verified = self.programs.iter().filter(|p| p.failure.is_none()).count();
        let _ = writeln!(
            s,
            "\nverified: {verified} of {} programs",
            self.programs.len()
        );
        // Per program: execute Cage ÷ raw (plain), fuel ÷ plain, ns/fuel.
        let fuel_limits = Limits {
            fuel: true,
            deadline: false,
        };
        let npf_limits = self.fuel_config();
        let _ = writeln!(
            s,
            "\nPer program, execute phase: Cage ÷ raw (plain) | fuel ÷ plain | ns per fuel unit"
        );
        let _ = write!(s, "{:<34}", "program");
        for e in &engines {
            let _ = write!(s, " {:>40}", e.name());
        }
        s.push('\n');
        for p in &self.programs {
            let _ = write!(s, "{:<34}", p.name);
            if let Some(f) = &p.failure {
                let _ = writeln!(s, " FAILED: {f}");
                continue;
            }
            for &e in &engines {
                let cage_ok = p
                    .get(e, Limits::PLAIN)
                    .is_some_and(|t| t.status == Status::Ok);
                let c = if !cage_ok {
                    match p.get(e, Limits::PLAIN).map(|t| &t.status) {
                        Some(Status::NotApplicable(_)) => "n/a".to_owned(),
                        _ => "—".to_owned(),
                    }
                } else {
                    let raw = Self::vs_raw(p, e, Limits::PLAIN, Phase::Execute).map_or_else(
                        || {
                            if Self::raw_gap(p, e, Limits::PLAIN).is_some() {
                                "n/a".to_owned()
                            } else {
                                "—".to_owned()
                            }
                        },
                        |c| format!("{:.2}{}", c.ratio, if c.significant { "" } else { "~" }),
                    );
                    let fuel = Self::vs_plain(p, e, fuel_limits)
                        .map_or_else(|| "—".to_owned(), |c| format!("{:.2}", c.ratio));
                    let npf = npf_limits
                        .and_then(|l| p.get(e, l)?.ns_per_fuel)
                        .map_or_else(|| "—".to_owned(), |f| format!("{:.3}", f.median));
                    format!("{raw} | {fuel} | {npf}")
                };
                let _ = write!(s, " {c:>40}");
            }
            s.push('\n');
        }
        let _ = writeln!(
            s,
            "(~ after a ratio: not significantly different from 1; n/a: the runtime cannot run it)"
        );
        // Cage ÷ raw across programs, per phase and configuration.
        let _ = writeln!(
            s,
            "\nCage ÷ raw across verified programs: median [min–max] of the per-program ratios; programs significantly above 1.02 (compile, instantiate: 1.05)"
        );
        let mut above = Vec::new();
        for limits in [Limits::PLAIN, fuel_limits] {
            if !self.options.configs.contains(&limits) {
                continue;
            }
            for ph in [Phase::Compile, Phase::Instantiate, Phase::Execute] {
                if !self.measured_phases().contains(&ph) {
                    continue;
                }
                let _ = write!(s, "{:<24}", format!("{} {}", limits.name(), ph.name()));
                for &e in &engines {
                    // (name, comparison, whether the raw twin's region is too short to judge)
                    let cs: Vec<(String, Comparison, bool)> = self
                        .programs
                        .iter()
                        .filter_map(|p| {
                            let c = Self::vs_raw(p, e, limits, ph)?;
                            let raw = Self::phase(p, e.twin()?, limits, ph)?;
                            let short = ph == Phase::Execute && raw.median_ns < RESOLUTION_NS;
                            Some((p.name.clone(), c, short))
                        })
                        .collect();
                    let bound = if ph == Phase::Execute { 1.02 } else { 1.05 };
                    let over: Vec<&str> = cs
                        .iter()
                        .filter(|(_, c, short)| c.significant && c.lo > bound && !short)
                        .map(|(n, _, _)| n.as_str())
                        .collect();
                    let short = cs.iter().filter(|(_, _, short)| *short).count();
                    let ratios: Vec<f64> = cs.iter().map(|(_, c, _)| c.ratio).collect();
                    let cellv = spread(&ratios).map_or_else(
                        || "—".to_owned(),
                        |(m, lo, hi)| {
                            let mut cell = format!(
                                "{m:.3} [{lo:.2}–{hi:.2}] n={} >{bound}: {}",
                                ratios.len(),
                                over.len()
                            );
                            if short > 0 {
                                let _ = write!(cell, " (+{short} too short)");
                            }
                            cell
                        },
                    );
                    if !over.is_empty() {
                        above.push(format!(
                            "{} {} {}: {}",
                            e.name(),
                            limits.name(),
                            ph.name(),
                            over.join(", ")
                        ));
                    }
                    let _ = write!(s, "  {}: {cellv:<40}", e.name());
                }
                s.push('\n');
            }
        }
        let _ = writeln!(
            s,
            "(too short: execution regions under {} µs on the raw runtime, shown per program above but not counted against the bound: there the ratio measures the markers' host calls, not the program; see the `marker_cost` example)",
            RESOLUTION_NS / 1000.0
        );
        for a in &above {
            let _ = writeln!(s, "  above the bound: {a}");
        }
        // Cost of limits.
        let _ = writeln!(
            s,
            "\nCost of limits, execute phase: ÷ plain, median [min–max] over verified programs; outliers above 2×"
        );
        for &limits in &self.options.configs {
            if limits == Limits::PLAIN {
                continue;
            }
            for &e in &engines {
                let cs: Vec<(String, f64)> = self
                    .programs
                    .iter()
                    .filter_map(|p| Some((p.name.clone(), Self::vs_plain(p, e, limits)?.ratio)))
                    .collect();
                let ratios: Vec<f64> = cs.iter().map(|(_, r)| *r).collect();
                let Some((m, lo, hi)) = spread(&ratios) else {
                    continue;
                };
                let outliers: Vec<String> = cs
                    .iter()
                    .filter(|(_, r)| *r > 2.0)
                    .map(|(n, r)| format!("{n} {r:.2}"))
                    .collect();
                let _ = writeln!(
                    s,
                    "{:<16} {:<20} {m:.2} [{lo:.2}–{hi:.2}]{}",
                    limits.name(),
                    e.name(),
                    if outliers.is_empty() {
                        String::new()
                    } else {
                        format!("; above 2×: {}", outliers.join(", "))
                    }
                );
            }
        }
        // Runtimes against the reference.
        let reference = Engine::Cage(self.reference);
        let _ = writeln!(
            s,
            "\nRuntimes against {}, execute phase (plain): programs where each is significantly slower / faster / not different",
            reference.name()
        );
        for &e in &engines {
            if e == reference {
                continue;
            }
            let cs: Vec<Comparison> = self
                .programs
                .iter()
                .filter(|p| p.failure.is_none())
                .filter_map(|p| {
                    Comparison::of(
                        Self::phase(p, reference, Limits::PLAIN, Phase::Execute)?,
                        Self::phase(p, e, Limits::PLAIN, Phase::Execute)?,
                    )
                })
                .collect();
            let slower = cs.iter().filter(|c| c.significant && c.ratio > 1.0).count();
            let faster = cs.iter().filter(|c| c.significant && c.ratio < 1.0).count();
            let ratios: Vec<f64> = cs.iter().map(|c| c.ratio).collect();
            if let Some((m, lo, hi)) = spread(&ratios) {
                let _ = writeln!(
                    s,
                    "{:<20} ×{m:.2} [{lo:.2}–{hi:.2}] (median [min–max] of {} programs): slower on {slower}, faster on {faster}, no significant difference on {}",
                    e.name(),
                    ratios.len(),
                    ratios.len() - slower - faster
                );
            }
        }
        // What could not run, and failures.
        let mut gaps: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in &self.programs {
            for t in &p.targets {
                if let Status::NotApplicable(why) = &t.status {
                    gaps.entry(format!("{}: {why}", t.target.engine.name()))
                        .or_default()
                        .push(p.name.clone());
                }
            }
        }
        if !gaps.is_empty() {
            let _ = writeln!(s, "\nn/a (not a failure: the runtime cannot run these):");
            for (why, names) in gaps {
                let mut names = names;
                names.dedup();
                let shown: Vec<String> = names.iter().take(6).cloned().collect();
                let _ = writeln!(
                    s,
                    "  {why} — {} program{}: {}{}",
                    names.len(),
                    if names.len() == 1 { "" } else { "s" },
                    shown.join(", "),
                    if names.len() > 6 { ", …" } else { "" }
                );
            }
        }
        for p in &self.programs {
            if let Some(f) = &p.failure {
                let _ = writeln!(s, "failed: {}: {f}", p.name);
            }
        }
        s
    }

    /// The JSON document (schema `cage-bench/2`).
    pub fn json(&self) -> Json {
        let programs: Vec<Json> = self
            .programs
            .iter()
            .map(|p| {
                let targets: Vec<Json> = p
                    .targets
                    .iter()
                    .map(|t| {
                        let (status, reason) = match &t.status {
                            Status::Ok => ("ok", None),
                            Status::NotApplicable(w) => ("n/a", Some(w.clone())),
                            Status::Failed(w) => ("failed", Some(w.clone())),
                        };
                        let phases: serde_json::Map<String, Json> = t
                            .phases
                            .iter()
                            .map(|(ph, st)| {
                                (ph.name().to_owned(), serde_json::to_value(st).unwrap_or_default())
                            })
                            .collect();
                        let vs_raw: serde_json::Map<String, Json> = if t.target.engine.kind()
                            == "cage"
                        {
                            t.phases
                                .keys()
                                .map(|ph| {
                                    let v = Self::vs_raw(p, t.target.engine, t.target.limits, *ph)
                                        .map_or_else(
                                            || {
                                                let twin_runs = t
                                                    .target
                                                    .engine
                                                    .twin()
                                                    .is_some_and(|tw| tw.runs(t.target.limits));
                                                let why = ph.raw_gap().map(str::to_owned).or_else(
                                                    || {
                                                        (!twin_runs).then(|| {
                                                            format!(
                                                                "the raw runtimes run plain and fuel only, not {}",
                                                                t.target.limits.name()
                                                            )
                                                        })
                                                    },
                                                ).or_else(
                                                    || {
                                                        Self::raw_gap(
                                                            p,
                                                            t.target.engine,
                                                            t.target.limits,
                                                        )
                                                    },
                                                );
                                                json!({"ratio": null, "reason": why})
                                            },
                                            |c| serde_json::to_value(c).unwrap_or_default(),
                                        );
                                    (ph.name().to_owned(), v)
                                })
                                .collect()
                        } else {
                            serde_json::Map::new()
                        };
                        json!({
                            "runtime": t.target.engine.name(),
                            "kind": t.target.engine.kind(),
                            "config": t.target.limits.name(),
                            "status": status,
                            "reason": reason,
                            "exit": t.exit.as_ref().map(ToString::to_string),
                            "fuel_consumed": t.fuel,
                            "region_fuel": t.region_fuel,
                            "phases": phases,
                            "ns_per_fuel": t.ns_per_fuel,
                            "vs_raw": if t.target.engine.kind() == "cage" { Json::Object(vs_raw) } else { Json::Null },
                        })
                    })
                    .collect();
                let reference = Engine::Cage(self.reference);
                let mut comparisons = Vec::new();
                for &limits in &self.options.configs {
                    for e in self.cage_engines() {
                        if e == reference {
                            continue;
                        }
                        for ph in self.measured_phases() {
                            let c = Self::phase(p, reference, limits, ph)
                                .zip(Self::phase(p, e, limits, ph))
                                .and_then(|(a, b)| Comparison::of(a, b));
                            if let Some(c) = c {
                                comparisons.push(json!({
                                    "config": limits.name(),
                                    "phase": ph.name(),
                                    "a": reference.name(),
                                    "b": e.name(),
                                    "ratio": c.ratio,
                                    "lo": c.lo,
                                    "hi": c.hi,
                                    "significant": c.significant,
                                    "text": c.sentence(&e.name(), &reference.name()),
                                }));
                            }
                        }
                    }
                }
                json!({
                    "name": p.name,
                    "wasm": p.wasm.display().to_string(),
                    "sha256": p.sha256,
                    "markers": p.markers,
                    "status": if p.failure.is_some() { "failed" } else { "verified" },
                    "failure": p.failure,
                    "targets": targets,
                    "comparisons": comparisons,
                })
            })
            .collect();
        json!({
            "schema": SCHEMA,
            "machine": {
                "cpu": self.machine.cpu,
                "cores": self.machine.cores,
                "memory_bytes": self.machine.memory_bytes,
                "os": self.machine.os,
                "kernel": self.machine.kernel,
            },
            "versions": {
                "cage": env!("CARGO_PKG_VERSION"),
                "wasmtime": WASMTIME_VERSION,
                "wasmtime_wasi": WASMTIME_WASI_VERSION,
                "wasmer": WASMER_VERSION,
                "wasmer_wasix": WASMER_WASIX_VERSION,
                "wasmer_middlewares": WASMER_MIDDLEWARES_VERSION,
            },
            "source": self.source,
            "iterations": self.options.iterations,
            "warmup": self.options.warmup,
            "phases": self.measured_phases().iter().map(|p| p.name()).collect::<Vec<_>>(),
            "configs": self.options.configs.iter().map(|c| c.name()).collect::<Vec<_>>(),
            "reference": self.reference.as_str(),
            "notes": NOTES,
            "programs": programs,
        })
    }

    /// The chart: per program, the engines side by side (bars: median, whisker: min–max) in
    /// three panels (compile, instantiate, execute), each on its own log time axis; `plain`
    /// configuration. Failed programs are left out.
    pub fn svg(&self) -> String {
        const NAME: f64 = 190.0;
        const PANEL: f64 = 300.0;
        const PAD: f64 = 24.0;
        const BAR: f64 = 5.0;
        const GAP: f64 = 7.0;
        const TOP: f64 = 100.0;
        let panels: Vec<Phase> = [Phase::Compile, Phase::Instantiate, Phase::Execute]
            .into_iter()
            .filter(|p| self.measured_phases().contains(p))
            .collect();
        let engines: Vec<Engine> = {
            let mut v: Vec<Engine> = self.cage_engines();
            v.extend(self.cage_engines().iter().filter_map(|e| e.twin()));
            v.retain(|e| self.options.engines.contains(e));
            v
        };
        let programs: Vec<&ProgramResult> = self
            .programs
            .iter()
            .filter(|p| p.failure.is_none())
            .collect();
        fn stats(p: &ProgramResult, e: Engine, ph: Phase) -> Option<&PhaseStats> {
            Run::phase(p, e, Limits::PLAIN, ph)
        }
        let axes: Vec<LogAxis> = panels
            .iter()
            .enumerate()
            .map(|(i, &ph)| {
                let all: Vec<&PhaseStats> = programs
                    .iter()
                    .flat_map(|p| engines.iter().filter_map(move |&e| stats(p, e, ph)))
                    .collect();
                let lo = all.iter().map(|s| s.min_ns).fold(f64::INFINITY, f64::min);
                let hi = all.iter().map(|s| s.max_ns).fold(1.0, f64::max);
                let lo = if lo.is_finite() { lo } else { 1.0 };
                LogAxis::new(lo, hi, NAME + i as f64 * (PANEL + PAD), PANEL)
            })
            .collect();
        let group = engines.len() as f64 * BAR;
        let plot_h = programs.len() as f64 * (group + GAP);
        let width = NAME + panels.len() as f64 * (PANEL + PAD) + 10.0;
        let height = TOP + plot_h + 30.0;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">"#
        );
        let _ = writeln!(
            s,
            r##"<rect width="100%" height="100%" fill="#ffffff"/>
<text x="10" y="18" font-size="14" font-weight="bold">cage bench: {} programs from {}, plain configuration; bar: median, whisker: min–max; log scales</text>
<text x="10" y="34" fill="#444">{}; cage {}, wasmtime {WASMTIME_VERSION} (wasmtime-wasi {WASMTIME_WASI_VERSION}), wasmer {WASMER_VERSION} (wasmer-wasix {WASMER_WASIX_VERSION}); {} iterations</text>"##,
            programs.len(),
            esc(&self.source),
            esc(&self.machine.describe()),
            env!("CARGO_PKG_VERSION"),
            self.options.iterations,
        );
        let mut lx = 10.0;
        for e in &engines {
            let n = e.name();
            let _ = writeln!(
                s,
                r#"<rect x="{lx}" y="46" width="10" height="10" fill="{}"/><text x="{}" y="55">{}</text>"#,
                colour(&n),
                lx + 14.0,
                esc(&n)
            );
            lx += 22.0 + 6.0 * n.len() as f64;
        }
        for (ph, axis) in panels.iter().zip(&axes) {
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{}" text-anchor="middle" font-weight="bold">{}</text>"#,
                axis.left() + PANEL / 2.0,
                TOP - 26.0,
                ph.name()
            );
            axis.grid(&mut s, TOP - 8.0, TOP + plot_h);
        }
        let mut y = TOP;
        for p in &programs {
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
                NAME - 6.0,
                y + group / 2.0 + 3.0,
                esc(&p.name)
            );
            for (ph, axis) in panels.iter().zip(&axes) {
                for (k, &e) in engines.iter().enumerate() {
                    let by = y + k as f64 * BAR;
                    let Some(st) = stats(p, e, *ph) else { continue };
                    let base = axis.left();
                    let w = (axis.x(st.median_ns) - base).max(1.0);
                    let n = e.name();
                    let _ = writeln!(
                        s,
                        r##"<rect x="{base:.1}" y="{by:.1}" width="{w:.1}" height="{:.1}" fill="{}"><title>{} {} on {}: median {} (min {}, max {}, 95 % CI {}–{}, n={})</title></rect><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#222" stroke-width="0.6"/>"##,
                        BAR - 0.6,
                        colour(&n),
                        esc(&p.name),
                        ph.name(),
                        esc(&n),
                        fmt_ns(st.median_ns),
                        fmt_ns(st.min_ns),
                        fmt_ns(st.max_ns),
                        fmt_ns(st.ci_ns[0]),
                        fmt_ns(st.ci_ns[1]),
                        st.n,
                        axis.x(st.min_ns),
                        by + BAR / 2.0,
                        axis.x(st.max_ns),
                        by + BAR / 2.0,
                    );
                }
            }
            y += group + GAP;
        }
        s.push_str("</svg>\n");
        s
    }
}

/// One significant change against a saved run.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// Program name.
    pub program: String,
    /// `engine/config`.
    pub target: String,
    /// Phase name.
    pub phase: String,
    /// New against old.
    pub comparison: Comparison,
}

/// A run compared with a saved one: significant regressions (slower), improvements, and
/// programs verified before that fail now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BaselineComparison {
    /// Significantly slower than the saved run.
    pub regressions: Vec<Change>,
    /// Significantly faster.
    pub improvements: Vec<Change>,
    /// Measurements present in both with no significant difference.
    pub unchanged: usize,
    /// Programs verified in the saved run that failed now.
    pub newly_failed: Vec<String>,
}

impl BaselineComparison {
    /// The terminal report.
    pub fn text(&self, file: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\nAgainst {file}: {} significant regressions, {} improvements, {} unchanged",
            self.regressions.len(),
            self.improvements.len(),
            self.unchanged
        );
        for c in &self.regressions {
            let _ = writeln!(
                s,
                "  REGRESSION {} {} {}: {}",
                c.program,
                c.target,
                c.phase,
                c.comparison.sentence("now", "before")
            );
        }
        for c in &self.improvements {
            let _ = writeln!(
                s,
                "  improved   {} {} {}: {}",
                c.program,
                c.target,
                c.phase,
                c.comparison.sentence("now", "before")
            );
        }
        for p in &self.newly_failed {
            let _ = writeln!(s, "  FAILS NOW  {p} (verified in {file})");
        }
        s
    }

    /// As JSON.
    pub fn json(&self, file: &str) -> Json {
        let list = |v: &[Change]| -> Vec<Json> {
            v.iter()
                .map(|c| {
                    json!({"program": c.program, "target": c.target, "phase": c.phase,
                           "ratio": c.comparison.ratio, "lo": c.comparison.lo, "hi": c.comparison.hi})
                })
                .collect()
        };
        json!({
            "file": file,
            "regressions": list(&self.regressions),
            "improvements": list(&self.improvements),
            "unchanged": self.unchanged,
            "newly_failed": self.newly_failed,
        })
    }
}

/// `(program, runtime/config, phase)`.
type Key = (String, String, String);

/// `(program, runtime/config, phase)` → samples, from a `cage-bench/2` document.
fn samples_of(doc: &Json) -> Result<BTreeMap<Key, Vec<f64>>, String> {
    if doc["schema"] != SCHEMA {
        return Err(format!(
            "not a `{SCHEMA}` document (schema {}): save it with `cage bench MODULE|--suite … --json FILE`",
            doc["schema"]
        ));
    }
    let mut out = BTreeMap::new();
    for p in doc["programs"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or_default().to_owned();
        if p["status"] != "verified" {
            continue;
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            let target = format!(
                "{}/{}",
                t["runtime"].as_str().unwrap_or_default(),
                t["config"].as_str().unwrap_or_default()
            );
            for (phase, st) in t["phases"].as_object().into_iter().flatten() {
                let v: Vec<f64> = st["samples_ns"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Json::as_f64)
                    .collect();
                if !v.is_empty() {
                    out.insert((name.clone(), target.clone(), phase.clone()), v);
                }
            }
        }
    }
    Ok(out)
}

/// Compares `new` with `old` (both `cage-bench/2` documents) on every measurement both have.
///
/// # Errors
/// `old` is not a `cage-bench/2` document.
pub fn compare(old: &Json, new: &Json) -> Result<BaselineComparison, String> {
    let (a, b) = (samples_of(old)?, samples_of(new)?);
    let mut out = BaselineComparison::default();
    for (key, new_samples) in &b {
        let Some(old_samples) = a.get(key) else {
            continue;
        };
        let (o, n) = (
            PhaseStats::of(old_samples.clone()),
            PhaseStats::of(new_samples.clone()),
        );
        let Some(c) = Comparison::of(&o, &n) else {
            continue;
        };
        let change = Change {
            program: key.0.clone(),
            target: key.1.clone(),
            phase: key.2.clone(),
            comparison: c,
        };
        if c.significant && c.ratio > 1.0 {
            out.regressions.push(change);
        } else if c.significant {
            out.improvements.push(change);
        } else {
            out.unchanged += 1;
        }
    }
    let verified = |d: &Json| -> Vec<(String, bool)> {
        d["programs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or_default().to_owned(),
                    p["status"] == "verified",
                )
            })
            .collect()
    };
    let before: BTreeMap<String, bool> = verified(old).into_iter().collect();
    for (name, ok) in verified(new) {
        if !ok && before.get(&name) == Some(&true) {
            out.newly_failed.push(name);
        }
    }
    Ok(out)
}

/// Which targets of `Options` are measured, by id (for `--list`).
pub fn target_ids(options: &Options) -> Vec<String> {
    options.targets().iter().map(Target::id).collect()
}
