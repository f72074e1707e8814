//! `cage policy audit`: risky settings in a policy, each with a severity and a fix.

use serde::Serialize;

use super::{Clock, DirMode, Policy, Proposal, Random};

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// A weaker setting than needed, usually.
    Low,
    /// A real exposure in most deployments.
    Medium,
    /// A limit the sandbox depends on is missing.
    High,
}

impl Severity {
    /// `info`, `low`, `medium`, `high`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "info" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            _ => Err(format!(
                "unknown severity `{s}`: expected info, low, medium or high"
            )),
        }
    }
}

/// One risky setting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// The key concerned, e.g. `limits.fuel`.
    pub key: String,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

/// The most descriptors one sandbox may hold before the audit says so.
const MANY_OPEN_FILES: u32 = 1_024;

/// The host's physical memory, if known.
fn host_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The findings for `policy`, most severe first.
pub fn audit(policy: &Policy) -> Vec<Finding> {
    audit_with_memory(policy, host_memory())
}

/// [`audit`] against a host with `memory` bytes of RAM (for tests).
pub fn audit_with_memory(policy: &Policy, memory: Option<u64>) -> Vec<Finding> {
    let mut v = Vec::new();
    let mut add = |severity, key: &str, problem: String, fix: &str| {
        v.push(Finding {
            severity,
            key: key.to_owned(),
            problem,
            fix: fix.to_owned(),
        });
    };
    let l = &policy.limits;
    match (l.fuel, l.timeout) {
        (None, None) => add(
            Severity::High,
            "limits.fuel",
            "neither fuel nor a timeout: a guest can run forever".into(),
            "set limits.timeout (and limits.fuel to bound work, not only time)",
        ),
        (Some(_), None) => add(
            Severity::Medium,
            "limits.timeout",
            "no timeout: fuel bounds the guest's work, but a host call that blocks \
             (WASI poll_oneoff, a slow host function) is not bounded"
                .into(),
            "set limits.timeout",
        ),
        (None, Some(_)) => add(
            Severity::Low,
            "limits.fuel",
            "no fuel: the deadline bounds time, not work; a guest gets all the CPU it can \
             use until then"
                .into(),
            "set limits.fuel (cage profile and cage calibrate give a value)",
        ),
        (Some(_), Some(_)) => {}
    }
    if l.yield_interval > std::time::Duration::from_millis(10) {
        add(
            Severity::Low,
            "limits.yield_interval",
            format!(
                "limits.yield_interval = {}: an async guest that computes holds an executor \
                 thread that long before the server's other tasks run (Wasmtime)",
                crate::policy::format_duration(l.yield_interval)
            ),
            "lower limits.yield_interval (1ms, the default, suits a server)",
        );
    }
    for (p, why) in [
        (
            Proposal::Threads,
            "shared memories are outside each sandbox's memory accounting and can outlive it",
        ),
        (
            Proposal::SharedEverythingThreads,
            "shared tables and globals across threads",
        ),
    ] {
        if policy.features.contains(p) {
            add(
                Severity::High,
                &format!("features.{}", p.name()),
                format!("{} is allowed: {why}", p.name()),
                "disable it unless the guests need it",
            );
        }
    }
    for p in [Proposal::Gc, Proposal::StackSwitching, Proposal::Exceptions] {
        if policy.features.contains(p) {
            add(
                Severity::Info,
                &format!("features.{}", p.name()),
                format!(
                    "{} is allowed: a large, recent part of the runtimes (check the advisory \
                     table of docs/security.md after each upgrade)",
                    p.name()
                ),
                "disable it unless the guests need it",
            );
        }
    }
    if let Some(mem) = memory {
        let cap = l
            .max_memory
            .bytes()
            .saturating_mul(u64::from(l.max_memories));
        if cap > mem / 4 {
            add(
                Severity::Medium,
                "limits.max_memory",
                format!(
                    "one sandbox may use {cap} bytes of memory, more than a quarter of this host's \
                     {mem}"
                ),
                "lower limits.max_memory (cage profile shows what the guest uses)",
            );
        }
        let all = cap.saturating_mul(u64::from(l.max_instances));
        if all > mem {
            add(
                Severity::Low,
                "limits.max_instances",
                format!(
                    "{} sandboxes at their memory cap would need {all} bytes, more than this \
                     host's {mem}",
                    l.max_instances
                ),
                "lower limits.max_instances or limits.max_memory, or rely on the process budget",
            );
        }
    }
    if l.max_stack.bytes() > 16 << 20 {
        add(
            Severity::Low,
            "limits.max_stack",
            format!("a {} guest stack", l.max_stack),
            "a few hundred KiB suffice for most guests; cage profile measures it",
        );
    }
    if l.max_module_size.bytes() > 64 << 20 {
        add(
            Severity::Low,
            "limits.max_module_size",
            format!("modules up to {} are compiled", l.max_module_size),
            "lower it to what your guests need",
        );
    }
    let w = &policy.wasi;
    // Above a thousand: the `permissive` preset's 4 096 is flagged, `default` (256) and `strict`
    // (64) are not; a few such sandboxes hold a typical `RLIMIT_NOFILE` (1 024 soft on Linux).
    if l.max_open_files > MANY_OPEN_FILES {
        add(
            Severity::Low,
            "limits.max_open_files",
            format!(
                "one sandbox may hold {} descriptors: a few such tenants take the process's \
                 share (the process budget still refuses past it)",
                l.max_open_files
            ),
            "a few hundred suffice for most guests",
        );
    }
    if w.dirs.iter().any(|d| d.mode == DirMode::Rw) {
        if l.max_disk_write.bytes() > 1 << 30 {
            add(
                Severity::Medium,
                "limits.max_disk_write",
                format!(
                    "a guest may add {} to the host's disk through its read-write directories",
                    l.max_disk_write
                ),
                "lower it to what the guest writes (1 GiB at most, usually far less)",
            );
        }
        if l.max_files_created > 100_000 {
            add(
                Severity::Low,
                "limits.max_files_created",
                format!(
                    "a guest may create {} files and directories",
                    l.max_files_created
                ),
                "lower it to what the guest creates",
            );
        }
    }
    if l.max_io_per_call.bytes() > 128 << 20 {
        add(
            Severity::Low,
            "limits.max_io_per_call",
            format!(
                "one WASI call may move {} between guest memory and the host (Wasmtime's own \
                 WASI stops at 128 MiB)",
                l.max_io_per_call
            ),
            "128 MiB or less",
        );
    }
    if w.inherit_stdio {
        add(
            Severity::Medium,
            "wasi.inherit_stdio",
            "the guest reads the host's stdin and writes unbounded output to its terminal".into(),
            "capture output (the default) and give stdin with wasi.stdin",
        );
    }
    let rw = w.dirs.iter().filter(|d| d.mode == DirMode::Rw).count();
    if rw > 0 {
        add(
            Severity::Low,
            "wasi.dirs",
            format!(
                "{rw} director{} preopened read-write",
                if rw == 1 { "y" } else { "ies" }
            ),
            "preopen read-only unless the guest must write; give it a scratch directory",
        );
    }
    if w.dirs.len() > 4 {
        add(
            Severity::Low,
            "wasi.dirs",
            format!("{} preopened directories", w.dirs.len()),
            "preopen only what the guest opens",
        );
    }
    if w.clock == Clock::Real {
        add(
            Severity::Info,
            "wasi.clock",
            "real clocks: runs are not reproducible and timing is observable".into(),
            "clock = \"frozen\" where reproducibility matters",
        );
    }
    if matches!(w.random, Random::Os) {
        add(
            Severity::Info,
            "wasi.random",
            "the OS generator: runs are not reproducible".into(),
            "random = { seed = N } where reproducibility matters",
        );
    }
    v.sort_by_key(|f| std::cmp::Reverse(f.severity));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Preset;

    #[test]
    fn a_risky_policy_has_high_findings_and_strict_has_none() {
        let mut risky = Preset::Permissive.policy();
        risky.features = risky.features.with(Proposal::Threads, true);
        risky.wasi.inherit_stdio = true;
        let f = audit_with_memory(&risky, Some(8 << 30));
        assert_eq!(f[0].severity, Severity::High, "{f:?}");
        assert!(f.iter().any(|x| x.key == "limits.fuel"));
        assert!(f.iter().any(|x| x.key == "features.threads"));
        assert!(f.iter().any(|x| x.key == "wasi.inherit_stdio"));
        let strict = audit_with_memory(&Preset::Strict.policy(), Some(8 << 30));
        assert!(
            strict.iter().all(|x| x.severity <= Severity::Low),
            "{strict:?}"
        );
    }

    /// The four keys that bound the host resources a WASI guest uses: each is named by a finding
    /// under `permissive` with a read-write directory, and none under `default` or `strict`.
    #[test]
    fn wasi_resource_limits_are_audited() {
        const KEYS: [&str; 4] = [
            "limits.max_open_files",
            "limits.max_disk_write",
            "limits.max_files_created",
            "limits.max_io_per_call",
        ];
        let rw = crate::policy::Dir {
            host: "/tmp/scratch".into(),
            guest: "/scratch".into(),
            mode: DirMode::Rw,
        };
        let with_rw = |preset: Preset| {
            let mut p = preset.policy();
            p.wasi.dirs.push(rw.clone());
            audit_with_memory(&p, Some(8 << 30))
        };
        let permissive = with_rw(Preset::Permissive);
        for key in KEYS {
            let f = permissive.iter().find(|f| f.key == key);
            let f = f.unwrap_or_else(|| panic!("no finding names {key}: {permissive:?}"));
            assert!(f.severity >= Severity::Low && !f.fix.is_empty(), "{f:?}");
        }
        for preset in [Preset::Default, Preset::Strict] {
            let f = with_rw(preset);
            assert!(
                f.iter().all(|f| !KEYS.contains(&f.key.as_str())),
                "{preset:?}: {f:?}"
            );
        }
        // Without a read-write directory nothing can be written or created: those two are quiet.
        let ro = audit_with_memory(&Preset::Permissive.policy(), Some(8 << 30));
        assert!(ro.iter().any(|f| f.key == KEYS[0]) && ro.iter().any(|f| f.key == KEYS[3]));
        assert!(
            ro.iter().all(|f| f.key != KEYS[1] && f.key != KEYS[2]),
            "{ro:?}"
        );
    }
}

/// What a guest was observed to use (the maxima of `cage profile --json` over its runtimes),
/// to audit a policy's limits against evidence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Observations {
    /// Fuel consumed.
    pub fuel: Option<u64>,
    /// Peak linear memory, in bytes.
    pub peak_memory_bytes: Option<u64>,
    /// Largest table, in elements.
    pub peak_table_elements: Option<u64>,
    /// The smallest stack under which the guest completes, in bytes.
    pub min_stack_bytes: Option<u64>,
    /// Wall time of the slowest run.
    pub wall: Option<std::time::Duration>,
}

/// How far above an observation a limit may be before the audit says so.
pub const FAR_ABOVE: u64 = 10;

/// Findings for limits far above (more than [`FAR_ABOVE`] times) or below what a profile
/// observed: far above, a runaway guest gets that much before it is stopped (medium); below,
/// the guest as profiled would be stopped (high).
pub fn audit_against(policy: &Policy, seen: &Observations) -> Vec<Finding> {
    let l = &policy.limits;
    let mut v = Vec::new();
    let mut check = |key: &str, limit: Option<u64>, observed: Option<u64>, unit: &str| {
        let Some(observed) = observed else { return };
        let Some(limit) = limit else {
            v.push(Finding {
                severity: Severity::Medium,
                key: key.to_owned(),
                problem: format!("no limit, and the profile observed {observed} {unit}"),
                fix: format!("set {key} from the profile (cage profile --write-policy)"),
            });
            return;
        };
        if limit < observed {
            v.push(Finding {
                severity: Severity::High,
                key: key.to_owned(),
                problem: format!(
                    "{limit} {unit} is below the {observed} {unit} the profile observed: the \
                     guest as profiled is stopped"
                ),
                fix: format!("raise {key} to the observed value times a headroom"),
            });
        } else if limit / observed.max(1) > FAR_ABOVE {
            v.push(Finding {
                severity: Severity::Medium,
                key: key.to_owned(),
                problem: format!(
                    "{limit} {unit} is {}× the {observed} {unit} the profile observed: a runaway \
                     guest gets that much before it is stopped",
                    limit / observed.max(1)
                ),
                fix: format!("lower {key} toward the observed value times a headroom"),
            });
        }
    };
    check("limits.fuel", l.fuel, seen.fuel, "fuel");
    check(
        "limits.max_memory",
        Some(l.max_memory.bytes()),
        seen.peak_memory_bytes,
        "bytes",
    );
    check(
        "limits.max_table_elements",
        Some(l.max_table_elements),
        seen.peak_table_elements.filter(|t| *t > 0),
        "elements",
    );
    check(
        "limits.max_stack",
        Some(l.max_stack.bytes()),
        seen.min_stack_bytes,
        "bytes",
    );
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    // Wall time varies by machine and load: only a timeout below what was seen, or no
    // timeout, is reported, and one 100 times above it (at least a second).
    if let Some(wall) = seen.wall {
        match l.timeout {
            None => {}
            Some(t) if t < wall => v.push(Finding {
                severity: Severity::High,
                key: "limits.timeout".into(),
                problem: format!(
                    "{} ms is below the {} ms the slowest profiled run took",
                    ms(t),
                    ms(wall)
                ),
                fix: "raise limits.timeout (cage calibrate relates it to fuel)".into(),
            }),
            Some(t) if t > wall * 100 && t.as_secs() >= 1 => v.push(Finding {
                severity: Severity::Low,
                key: "limits.timeout".into(),
                problem: format!(
                    "{} ms is over 100× the {} ms the slowest profiled run took",
                    ms(t),
                    ms(wall).max(1)
                ),
                fix: "lower limits.timeout toward the observed time times a headroom".into(),
            }),
            Some(_) => {}
        }
    }
    v.sort_by_key(|f| std::cmp::Reverse(f.severity));
    v
}
