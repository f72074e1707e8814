//! Results of a benchmark run: the machine, a terminal table with ratios, JSON, an SVG chart.

use std::fmt::Write as _;

use serde_json::{Value as Json, json};

use super::{Case, Group, Summary};

/// The Wasmtime version Cage is built with (`.ci/check-lock` and a test keep it true).
pub const WASMTIME_VERSION: &str = "48.0.8";
/// The Wasmer version Cage is built with (`.ci/check-lock` and a test keep it true).
pub const WASMER_VERSION: &str = "7.3.0";
/// `schema` of the JSON document.
pub const SCHEMA: &str = "cage-bench/1";

/// What the numbers were measured on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// CPU model (`/proc/cpuinfo`), or `unknown`.
    pub cpu: String,
    /// Logical cores available to the process.
    pub cores: usize,
    /// Physical memory in bytes (`/proc/meminfo`), 0 when unknown.
    pub memory_bytes: u64,
    /// Operating system (`/etc/os-release`, else the target OS) and architecture.
    pub os: String,
    /// Kernel release, or empty.
    pub kernel: String,
}

impl Machine {
    /// Reads the machine this process runs on.
    pub fn current() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, v)| v.trim().to_owned());
        let memory_bytes = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024);
        let os_release = read("/etc/os-release");
        let pretty = os_release
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_else(|| std::env::consts::OS.to_owned());
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory_bytes,
            os: format!("{pretty} ({})", std::env::consts::ARCH),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        format!(
            "{}, {} cores, {:.0} GiB, {}{}",
            self.cpu,
            self.cores,
            self.memory_bytes as f64 / f64::from(1u32 << 30),
            self.os,
            if self.kernel.is_empty() {
                String::new()
            } else {
                format!(", Linux {}", self.kernel)
            }
        )
    }
}

/// One measured case.
#[derive(Clone, Debug)]
pub struct Row {
    /// The case.
    pub case: Case,
    /// Its timing.
    pub summary: Summary,
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct Results {
    /// The machine.
    pub machine: Machine,
    /// Whether `--quick` budgets were used.
    pub quick: bool,
    /// The runtime ratios are computed against.
    pub baseline: String,
    /// Measured cases, in plan order.
    pub rows: Vec<Row>,
    /// Cases that failed: (case id, target, error).
    pub errors: Vec<(String, String, String)>,
}

/// Notes printed with every report.
pub const NOTES: &[&str] = &[
    "Times are per iteration: one compile, one request (new sandbox + instantiate + call), one call, or one kernel run.",
    "compile/small and compile/large are cold (the runtime's memory cache off); …/cached are answered by the runtime's memory cache; …/disk by Cage's authenticated disk cache (read, HMAC, load; bodies not validated again).",
    "raw-* are the runtimes' own APIs with Cranelift at OptLevel::Speed (Singlepass as is) and typed calls; they run only without limits.",
    "hostcall/bump is 10 000 host calls per iteration: divide by 10 000 for one round trip.",
];

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

impl Results {
    fn median(&self, id: &str, target: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.case.id() == id && r.case.target.name() == target)
            .map(|r| r.summary.median_ns)
    }

    /// The row's median divided by the baseline runtime's on the same case.
    pub fn vs_baseline(&self, row: &Row) -> Option<f64> {
        ratio(
            row.summary.median_ns,
            self.median(&row.case.id(), &self.baseline)?,
        )
    }

    /// For a Cage row: its median divided by its raw twin's on the same case (plain only).
    pub fn vs_raw(&self, row: &Row) -> Option<f64> {
        if row.case.target.kind() != "cage" {
            return None;
        }
        let twin = format!("raw-{}", row.case.target.runtime()?);
        ratio(row.summary.median_ns, self.median(&row.case.id(), &twin)?)
    }

    /// Cage runtimes present, in order.
    fn cage_runtimes(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for r in &self.rows {
            let n = r.case.target.name();
            if r.case.target.kind() == "cage" && !v.contains(&n) {
                v.push(n);
            }
        }
        v
    }

    /// Workloads present, as `group/name`, in order.
    fn workload_keys(&self) -> Vec<(String, Group)> {
        let mut v: Vec<(String, Group)> = Vec::new();
        for r in &self.rows {
            let k = format!("{}/{}", r.case.workload.group.name(), r.case.workload.name);
            if !v.iter().any(|(x, _)| *x == k) {
                v.push((k, r.case.workload.group));
            }
        }
        v
    }

    fn id_of(key: &str, group: Group, limits: &str) -> String {
        if group == Group::Compile {
            key.to_owned()
        } else {
            format!("{key}/{limits}")
        }
    }

    /// The terminal report: every case with median, p10–p90, samples and ratios, then the
    /// abstraction overhead, the cost of fuel and deadline, and wasm against native.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "machine: {}", self.machine.describe());
        let _ = writeln!(
            s,
            "versions: cage {}, wasmtime {WASMTIME_VERSION}, wasmer {WASMER_VERSION}; budget: {}",
            env!("CARGO_PKG_VERSION"),
            if self.quick { "quick" } else { "full" }
        );
        let base = format!("×{}", self.baseline);
        let _ = writeln!(
            s,
            "\n{:<28} {:<22} {:>10} {:>22} {:>4} {:>10} {:>6}",
            "benchmark", "runtime", "median", "p10 … p90", "n", base, "×raw"
        );
        let mut last = String::new();
        for r in &self.rows {
            let id = r.case.id();
            let shown = if id == last {
                String::new()
            } else {
                id.clone()
            };
            last = id;
            let _ = writeln!(
                s,
                "{:<28} {:<22} {:>10} {:>22} {:>4} {:>10} {:>6}",
                shown,
                r.case.target.name(),
                fmt_ns(r.summary.median_ns),
                format!(
                    "{} … {}",
                    fmt_ns(r.summary.p10_ns),
                    fmt_ns(r.summary.p90_ns)
                ),
                r.summary.samples,
                fmt_ratio(self.vs_baseline(r)),
                fmt_ratio(self.vs_raw(r)),
            );
        }
        let runtimes = self.cage_runtimes();
        let header = |s: &mut String, title: &str| {
            let _ = write!(s, "\n{title}\n{:<34}", "");
            for rt in &runtimes {
                let _ = write!(s, " {rt:>18}");
            }
            s.push('\n');
        };
        // Abstraction overhead.
        header(
            &mut s,
            "Abstraction overhead: Cage ÷ raw runtime API (median, no limits)",
        );
        for (key, group) in self.workload_keys() {
            let id = Self::id_of(&key, group, "plain");
            let cells: Vec<Option<f64>> = runtimes
                .iter()
                .map(|rt| {
                    ratio(
                        self.median(&id, rt)?,
                        self.median(&id, &format!("raw-{rt}"))?,
                    )
                })
                .collect();
            if cells.iter().any(Option::is_some) {
                let _ = write!(s, "{key:<34}");
                for c in cells {
                    let _ = write!(s, " {:>18}", fmt_ratio(c));
                }
                s.push('\n');
            }
        }
        // Limits.
        header(
            &mut s,
            "Cost of limits: ÷ the same case without limits (median)",
        );
        for (key, group) in self.workload_keys() {
            if group == Group::Compile {
                continue;
            }
            for limits in ["fuel", "deadline", "fuel+deadline"] {
                let id = Self::id_of(&key, group, limits);
                let plain = Self::id_of(&key, group, "plain");
                let cells: Vec<Option<f64>> = runtimes
                    .iter()
                    .map(|rt| ratio(self.median(&id, rt)?, self.median(&plain, rt)?))
                    .collect();
                if cells.iter().any(Option::is_some) {
                    let _ = write!(s, "{:<34}", format!("{key} {limits}"));
                    for c in cells {
                        let _ = write!(s, " {:>18}", fmt_ratio(c));
                    }
                    s.push('\n');
                }
            }
        }
        // Cache.
        header(
            &mut s,
            "Compiled-module cache: cold compile ÷ compile again (median; goal ≥ 50 in memory)",
        );
        for (key, group) in self.workload_keys() {
            let Some((cold_key, how)) = key
                .strip_suffix("/cached")
                .map(|k| (k, "memory"))
                .or_else(|| key.strip_suffix("/disk").map(|k| (k, "disk")))
            else {
                continue;
            };
            let _ = write!(s, "{:<34}", format!("{cold_key} ({how})"));
            for rt in &runtimes {
                let r = self
                    .median(&Self::id_of(cold_key, group, "plain"), rt)
                    .zip(self.median(&Self::id_of(&key, group, "plain"), rt))
                    .and_then(|(cold, cached)| ratio(cold, cached));
                let _ = write!(s, " {:>18}", fmt_ratio(r));
            }
            s.push('\n');
        }
        // Native.
        header(&mut s, "Wasm ÷ native (median, no limits)");
        for (key, group) in self.workload_keys() {
            let id = Self::id_of(&key, group, "plain");
            let Some(native) = self.median(&id, "native") else {
                continue;
            };
            let _ = write!(s, "{key:<34}");
            for rt in &runtimes {
                let _ = write!(
                    s,
                    " {:>18}",
                    fmt_ratio(self.median(&id, rt).and_then(|m| ratio(m, native)))
                );
            }
            s.push('\n');
        }
        s.push('\n');
        for n in NOTES {
            let _ = writeln!(s, "note: {n}");
        }
        for (id, target, e) in &self.errors {
            let _ = writeln!(s, "error: {id} on {target}: {e}");
        }
        s
    }

    /// The JSON document (schema `cage-bench/1`, described in docs/benchmarks.md).
    pub fn json(&self) -> Json {
        let results: Vec<Json> = self
            .rows
            .iter()
            .map(|r| {
                let c = &r.case;
                let m = &r.summary;
                json!({
                    "id": c.id(),
                    "group": c.workload.group.name(),
                    "workload": c.workload.name,
                    "limits": c.limits.name(),
                    "runtime": c.target.name(),
                    "kind": c.target.kind(),
                    "median_ns": round(m.median_ns),
                    "p10_ns": round(m.p10_ns),
                    "p90_ns": round(m.p90_ns),
                    "min_ns": round(m.min_ns),
                    "max_ns": round(m.max_ns),
                    "mean_ns": round(m.mean_ns),
                    "samples": m.samples,
                    "iterations_per_sample": m.iterations_per_sample,
                    "vs_baseline": self.vs_baseline(r).map(round3),
                    "vs_raw": self.vs_raw(r).map(round3),
                })
            })
            .collect();
        let errors: Vec<Json> = self
            .errors
            .iter()
            .map(|(id, t, e)| json!({"id": id, "runtime": t, "error": e}))
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
                "wasmer": WASMER_VERSION,
            },
            "quick": self.quick,
            "baseline": self.baseline,
            "notes": NOTES,
            "results": results,
            "errors": errors,
        })
    }

    /// A horizontal grouped bar chart, log time axis, one colour per runtime, p10–p90
    /// whiskers, a legend: one group of bars per case id.
    pub fn svg(&self) -> String {
        svg(self)
    }
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `123 ns`, `1.23 µs`, `12.3 ms`, `1.23 s`.
pub fn fmt_ns(ns: f64) -> String {
    let (v, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    if v >= 100.0 {
        format!("{v:.0} {unit}")
    } else if v >= 10.0 {
        format!("{v:.1} {unit}")
    } else {
        format!("{v:.2} {unit}")
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "—".to_owned(), |r| format!("{r:.2}"))
}

/// Colour of a runtime in the charts: raw twins are a lighter shade of their runtime's.
pub(crate) fn colour(target: &str) -> &'static str {
    match target {
        "wasmtime" => "#1f5fbf",
        "raw-wasmtime" => "#8fb4ea",
        "raw-wasmtime-pooling" => "#c3d6f2",
        "wasmer-cranelift" => "#d9651a",
        "raw-wasmer-cranelift" => "#f2b88f",
        "wasmer-singlepass" => "#2e8b3e",
        "raw-wasmer-singlepass" => "#9fd4a6",
        "native" => "#555555",
        _ => "#a040a0",
    }
}

/// `s` escaped for SVG text.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A horizontal log₁₀ time axis: whole decades from below `lo` to above `hi` over `width`
/// pixels from `left`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LogAxis {
    d0: f64,
    d1: f64,
    left: f64,
    width: f64,
}

impl LogAxis {
    /// The axis covering `lo..=hi` nanoseconds.
    pub(crate) fn new(lo: f64, hi: f64, left: f64, width: f64) -> Self {
        let lo = lo.max(1.0);
        let d0 = lo.log10().floor();
        let d1 = hi.max(lo).log10().ceil().max(d0 + 1.0);
        LogAxis {
            d0,
            d1,
            left,
            width,
        }
    }

    /// Where the axis starts.
    pub(crate) fn left(&self) -> f64 {
        self.left
    }

    /// The x coordinate of `ns`.
    pub(crate) fn x(&self, ns: f64) -> f64 {
        self.left + (ns.max(1.0).log10() - self.d0) / (self.d1 - self.d0) * self.width
    }

    /// Gridlines and labels, one per decade, from `top` to `bottom`, labels above `top`.
    pub(crate) fn grid(&self, s: &mut String, top: f64, bottom: f64) {
        let units = [
            "1 ns", "10 ns", "100 ns", "1 µs", "10 µs", "100 µs", "1 ms", "10 ms", "100 ms", "1 s",
            "10 s", "100 s",
        ];
        let mut d = self.d0;
        while d <= self.d1 + 1e-9 {
            let gx = self.x(10f64.powf(d));
            let label = units.get(d as usize).copied().unwrap_or("");
            let _ = writeln!(
                s,
                r##"<line x1="{gx:.1}" y1="{top}" x2="{gx:.1}" y2="{bottom}" stroke="#dddddd"/><text x="{gx:.1}" y="{}" text-anchor="middle" fill="#444">{label}</text>"##,
                top - 4.0,
            );
            d += 1.0;
        }
    }
}

fn svg(r: &Results) -> String {
    const LEFT: f64 = 210.0;
    const PLOT: f64 = 620.0;
    const RIGHT: f64 = 80.0;
    const BAR: f64 = 9.0;
    const GAP: f64 = 8.0;
    const TOP: f64 = 96.0;
    let width = LEFT + PLOT + RIGHT;
    let mut targets: Vec<String> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    for row in &r.rows {
        let t = row.case.target.name();
        if !targets.contains(&t) {
            targets.push(t);
        }
        let id = row.case.id();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let lo = r
        .rows
        .iter()
        .map(|x| x.summary.p10_ns.min(x.summary.median_ns))
        .fold(f64::INFINITY, f64::min)
        .max(1.0);
    let hi = r
        .rows
        .iter()
        .map(|x| x.summary.p90_ns.max(x.summary.median_ns))
        .fold(1.0, f64::max);
    let axis = LogAxis::new(lo, hi, LEFT, PLOT);
    let x = |ns: f64| axis.x(ns);
    let height_of = |id: &str| r.rows.iter().filter(|x| x.case.id() == id).count() as f64 * BAR;
    let plot_h: f64 = ids.iter().map(|i| height_of(i) + GAP).sum();
    let height = TOP + plot_h + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>
<text x="10" y="20" font-size="15" font-weight="bold">Cage benchmarks: time per iteration, median (bar) and p10–p90 (whisker), log scale</text>
<text x="10" y="38" fill="#444">{}; cage {}, wasmtime {WASMTIME_VERSION}, wasmer {WASMER_VERSION}{}</text>"##,
        esc(&r.machine.describe()),
        env!("CARGO_PKG_VERSION"),
        if r.quick { "; --quick" } else { "" }
    );
    // Legend.
    let mut lx = 10.0;
    for t in &targets {
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="52" width="12" height="12" fill="{}"/><text x="{}" y="62">{}</text>"#,
            colour(t),
            lx + 16.0,
            esc(t)
        );
        lx += 24.0 + 6.5 * t.len() as f64;
    }
    // Axis: one gridline per decade.
    axis.grid(&mut s, TOP - 8.0, TOP + plot_h);
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#444">time per iteration (log scale)</text>"##,
        LEFT + PLOT / 2.0,
        TOP + plot_h + 24.0
    );
    // Bars.
    let mut y = TOP;
    for id in &ids {
        let rows: Vec<&Row> = r.rows.iter().filter(|x| x.case.id() == *id).collect();
        let group_h = rows.len() as f64 * BAR;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + group_h / 2.0 + 4.0,
            esc(id)
        );
        for row in rows {
            let t = row.case.target.name();
            let m = &row.summary;
            let w = (x(m.median_ns) - LEFT).max(1.0);
            let _ = writeln!(
                s,
                r#"<rect x="{LEFT}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{}"><title>{} on {}: {} (p10 {}, p90 {}, n={})</title></rect>"#,
                y + 0.5,
                BAR - 1.0,
                colour(&t),
                esc(id),
                esc(&t),
                fmt_ns(m.median_ns),
                fmt_ns(m.p10_ns),
                fmt_ns(m.p90_ns),
                m.samples
            );
            let _ = writeln!(
                s,
                r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#222" stroke-width="1"/><text x="{:.1}" y="{:.1}" font-size="8" fill="#333">{}</text>"##,
                x(m.p10_ns),
                y + BAR / 2.0,
                x(m.p90_ns),
                y + BAR / 2.0,
                x(m.p90_ns.max(m.median_ns)) + 3.0,
                y + BAR - 1.5,
                fmt_ns(m.median_ns)
            );
            y += BAR;
        }
        y += GAP;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{}" x2="{LEFT}" y2="{}" stroke="#222"/>"##,
        TOP - 8.0,
        TOP + plot_h
    );
    s.push_str("</svg>\n");
    s
}
