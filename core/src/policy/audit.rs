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
                    "{} is allowed: a large, recent part of the runtimes (check the README's \
                     advisory table after each upgrade)",
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
}
