//! The process-wide budget: what all sandboxes of every runtime in this process may hold at
//! once. `limits.max_instances` caps one runtime; this caps the process, whatever policies its
//! runtimes have, so that the thousand-and-first tenant is refused with a typed rejection
//! (`rejected: limit_exceeded`, naming the budget) before anything is mapped, opened or
//! started, instead of failing deep inside a runtime (a failed `mmap` as a trap, a thread that
//! cannot start, a panic, an abort) when the operating system runs out.
//!
//! Five quantities are counted:
//!
//! | quantity | charged for | given back |
//! |---|---|---|
//! | sandboxes | each live sandbox | when it is dropped |
//! | address space | memories and tables a sandbox reserves ([`crate::backend::Backend::sandbox_cost`]); a pool reserved up front (Wasmtime's pooling allocator) once, when its runtime is made | with the sandbox; with the runtime |
//! | memory mappings (`vm.max_map_count`) | a sandbox's memories and tables; a pool's slots as they are first used (they keep their mappings while the pool lives); compiled code ([`crate::backend::Backend::code_cost`]) | with the sandbox; with the runtime; when the last module, sandbox or cache entry holding the code is dropped |
//! | file descriptors (`RLIMIT_NOFILE`) | WASI preopens and the files a guest opens; compiled code that holds one (Wasmtime's memory images) | when closed; with the code |
//! | threads | each runtime's deadline thread; the threads a compile starts (Wasmer's per-compile pool) | with the runtime; when the compile ends |
//!
//! Each backend says what it holds; where a runtime's usage cannot be known exactly, the backend
//! charges a measured upper bound (see each `*_cost`).
//!
//! **What others hold counts too.** Cage's charges are not the whole process: the application
//! and its other libraries map, open and start their own. At start-up, whenever Cage's charges
//! for a quantity pass another eighth of its budget, and on a refusal (at most once every
//! 100 ms, so that a storm of refusals does not read `/proc` in a loop), the budget reads
//! what the process really holds (`/proc/self/maps`, `/proc/self/fd`, `/proc/self/status` on
//! Linux) and counts what is not Cage's (the measurement less Cage's charges) as taken:
//! Cage's headroom shrinks by what others hold, and a refusal is re-judged on fresh numbers
//! before it is final. [`process_usage`] reports both. [`remeasure`] reads them on demand.
//!
//! The default is derived from the machine, with a margin: three quarters of the user address
//! space (128 TiB on x86-64 and aarch64 with 4-level page tables), three quarters of
//! `vm.max_map_count` (Linux; 65 530 unless raised), one sandbox per 64 KiB of physical
//! memory, the process's descriptor limit (`RLIMIT_NOFILE`) less a reserve of a quarter (at
//! least 64) that tenants never reach, for the host's own sockets, logs and caches, and three
//! quarters of the threads the process may start (`RLIMIT_NPROC`, `kernel.threads-max`). An
//! application sets its own with [`set_process_budget`].

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;
use crate::outcome::Rejection;

/// What the whole process may hold at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessBudget {
    /// Live sandboxes, all runtimes together.
    pub sandboxes: u64,
    /// Virtual address space reserved for linear memories, tables and pools, in bytes.
    pub address_space: u64,
    /// Memory mappings.
    pub mappings: u64,
    /// File descriptors held for guests (WASI preopens and open files, compiled code).
    pub descriptors: u64,
    /// Threads started for guests (deadline threads, compile threads).
    pub threads: u64,
}

impl ProcessBudget {
    /// A budget of these amounts, and this machine's default descriptors and threads
    /// ([`ProcessBudget::with_descriptors`], [`ProcessBudget::with_threads`] set them).
    pub fn new(sandboxes: u64, address_space: u64, mappings: u64) -> Self {
        ProcessBudget {
            sandboxes,
            address_space,
            mappings,
            descriptors: default_descriptors(),
            threads: default_threads(),
        }
    }

    /// The same budget with `descriptors` file descriptors for guests.
    #[must_use]
    pub fn with_descriptors(mut self, descriptors: u64) -> Self {
        self.descriptors = descriptors;
        self
    }

    /// The same budget with `threads` threads for guests.
    #[must_use]
    pub fn with_threads(mut self, threads: u64) -> Self {
        self.threads = threads;
        self
    }

    /// The default for this machine (see the module documentation).
    pub fn for_this_machine() -> Self {
        let address_space = if cfg!(target_pointer_width = "64") {
            (128u64 << 40) / 4 * 3
        } else {
            (2u64 << 30) / 4 * 3
        };
        let mappings = max_map_count() / 4 * 3;
        let sandboxes = physical_memory().map_or(1_000_000, |m| (m / (64 << 10)).max(1_000));
        ProcessBudget {
            sandboxes,
            address_space,
            mappings,
            descriptors: default_descriptors(),
            threads: default_threads(),
        }
    }
}

fn read_number(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `vm.max_map_count` (65 530 when unknown).
fn max_map_count() -> u64 {
    read_number("/proc/sys/vm/max_map_count").unwrap_or(65_530)
}

/// The process's descriptor limit less a reserve of a quarter (at least 64) for the host.
fn default_descriptors() -> u64 {
    let soft = descriptor_limit();
    soft.saturating_sub((soft / 4).max(64))
}

/// The process's soft `RLIMIT_NOFILE` (1 024 when unknown, 1 048 576 when unlimited).
fn descriptor_limit() -> u64 {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(1 << 20)
    }
    #[cfg(not(unix))]
    {
        1024
    }
}

/// Three quarters of the threads the process may start: the smaller of `RLIMIT_NPROC` and
/// `kernel.threads-max` (4 096 when neither is known).
fn default_threads() -> u64 {
    #[cfg(unix)]
    let nproc = rustix::process::getrlimit(rustix::process::Resource::Nproc).current;
    #[cfg(not(unix))]
    let nproc: Option<u64> = None;
    let max = read_number("/proc/sys/kernel/threads-max");
    let limit = match (nproc, max) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => 4_096,
    };
    limit / 4 * 3
}

fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// What the process holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessUsage {
    /// Live sandboxes.
    pub sandboxes: u64,
    /// Address space Cage charged, in bytes.
    pub address_space: u64,
    /// Memory mappings Cage charged.
    pub mappings: u64,
    /// File descriptors Cage charged.
    pub descriptors: u64,
    /// Threads Cage charged.
    pub threads: u64,
    /// What the process as a whole held at the last measurement (Linux; `None` elsewhere).
    pub measured: Option<Measured>,
    /// What the budget counts as held by others (the application, other libraries): the last
    /// measurement less Cage's charges then. It is taken from Cage's headroom.
    pub others: ProcessHeld,
}

/// What the process as a whole held, read from the operating system.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Measured {
    /// Its virtual address space (`VmSize`), in bytes.
    pub address_space: u64,
    /// Its memory mappings (lines of `/proc/self/maps`).
    pub mappings: u64,
    /// Its open file descriptors.
    pub descriptors: u64,
    /// Its threads.
    pub threads: u64,
}

/// Amounts of the measured quantities held by others than Cage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessHeld {
    /// Address space, in bytes.
    pub address_space: u64,
    /// Memory mappings.
    pub mappings: u64,
    /// File descriptors.
    pub descriptors: u64,
    /// Threads.
    pub threads: u64,
}

/// What one sandbox (or one runtime's pool, or one compiled module, or one thread) holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cost {
    /// Sandboxes (1 for a sandbox, 0 otherwise).
    pub sandboxes: u64,
    /// Address space, in bytes.
    pub address_space: u64,
    /// Memory mappings.
    pub mappings: u64,
    /// File descriptors.
    pub descriptors: u64,
    /// Threads.
    pub threads: u64,
}

impl Cost {
    /// One sandbox reserving `address_space` bytes in `mappings` mappings.
    pub fn sandbox(address_space: u64, mappings: u64) -> Self {
        Cost {
            sandboxes: 1,
            address_space,
            mappings,
            ..Cost::default()
        }
    }

    /// A reservation made once (a pool, compiled code), not a sandbox.
    pub fn reservation(address_space: u64, mappings: u64) -> Self {
        Cost {
            address_space,
            mappings,
            ..Cost::default()
        }
    }

    /// `n` file descriptors.
    pub fn descriptors(n: u64) -> Self {
        Cost {
            descriptors: n,
            ..Cost::default()
        }
    }

    /// `n` threads.
    pub fn threads(n: u64) -> Self {
        Cost {
            threads: n,
            ..Cost::default()
        }
    }

    /// The same cost plus `n` file descriptors.
    #[must_use]
    pub fn with_descriptors(mut self, n: u64) -> Self {
        self.descriptors += n;
        self
    }

    /// Both costs together (saturating).
    #[must_use]
    pub fn plus(self, other: Cost) -> Self {
        Cost {
            sandboxes: self.sandboxes.saturating_add(other.sandboxes),
            address_space: self.address_space.saturating_add(other.address_space),
            mappings: self.mappings.saturating_add(other.mappings),
            descriptors: self.descriptors.saturating_add(other.descriptors),
            threads: self.threads.saturating_add(other.threads),
        }
    }

    /// Whether it costs nothing.
    pub fn is_zero(&self) -> bool {
        amounts(*self).iter().all(|a| *a == 0)
    }
}

/// How many quantities are counted.
const N: usize = 5;
/// The quantities the operating system can be asked about (all but sandboxes).
const MEASURED: [usize; 4] = [1, 2, 3, 4];

const NAMES: [&str; N] = [
    "sandboxes",
    "address space (bytes)",
    "memory mappings",
    "file descriptors",
    "threads",
];

fn amounts(c: Cost) -> [u64; N] {
    [
        c.sandboxes,
        c.address_space,
        c.mappings,
        c.descriptors,
        c.threads,
    ]
}

/// The budget, Cage's charges and what others hold, as atomics: charging a sandbox is a few
/// additions, no lock (instance-per-request on many threads must not queue here).
struct Counters {
    limit: [AtomicU64; N],
    used: [AtomicU64; N],
    /// Held by others, as of the last measurement.
    others: [AtomicU64; N],
    /// Cage's charge at which a quantity is measured again (the next eighth of its budget).
    next_look: [AtomicU64; N],
    /// The last measurement, for [`process_usage`] (`u64::MAX`: none).
    measured: [AtomicU64; N],
    /// When a refusal last measured the process (nanoseconds since the first, plus one; 0:
    /// never).
    last_refusal_look: AtomicU64,
}

fn counters() -> &'static Counters {
    static C: OnceLock<Counters> = OnceLock::new();
    C.get_or_init(|| {
        let b = ProcessBudget::for_this_machine();
        let c = Counters {
            limit: [
                AtomicU64::new(b.sandboxes),
                AtomicU64::new(b.address_space),
                AtomicU64::new(b.mappings),
                AtomicU64::new(b.descriptors),
                AtomicU64::new(b.threads),
            ],
            used: Default::default(),
            others: Default::default(),
            next_look: Default::default(),
            measured: std::array::from_fn(|_| AtomicU64::new(u64::MAX)),
            last_refusal_look: AtomicU64::new(0),
        };
        look(&c);
        c
    })
}

/// Reads what the process holds (Linux), for the measured quantities.
fn measure() -> Option<[u64; N]> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let address_space = field("VmSize:")? * 1024;
    let threads = field("Threads:")?;
    let mappings = count_lines("/proc/self/maps")?;
    let descriptors = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    Some([0, address_space, mappings, descriptors, threads])
}

/// The number of lines of a file, read in pieces (`/proc/self/maps` can be megabytes).
fn count_lines(path: &str) -> Option<u64> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 64 << 10];
    let mut n = 0u64;
    loop {
        let got = f.read(&mut buf).ok()?;
        if got == 0 {
            return Some(n);
        }
        n += buf[..got].iter().filter(|b| **b == b'\n').count() as u64;
    }
}

/// Measures the process and updates what others hold, and when to look next. What others
/// hold is the measurement less Cage's charges: it is never counted too high (Cage's charges
/// are upper bounds of what it holds), and charges made but not yet taken from the system (a
/// sandbox charged before its memory is mapped) make it briefly too low, never too high.
fn look(c: &Counters) {
    let Some(m) = measure() else {
        return;
    };
    for i in MEASURED {
        let used = c.used[i].load(Ordering::Acquire);
        c.others[i].store(m[i].saturating_sub(used), Ordering::Release);
        c.measured[i].store(m[i], Ordering::Release);
        let step = (c.limit[i].load(Ordering::Acquire) / 8).max(1);
        c.next_look[i].store(used.saturating_add(step), Ordering::Release);
    }
}

/// The least time between two measurements made because of a refusal.
const REFUSAL_LOOK: std::time::Duration = std::time::Duration::from_millis(100);

/// Whether a refusal may measure the process again (at most every [`REFUSAL_LOOK`]).
fn may_look_again(c: &Counters) -> bool {
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    let now = u64::try_from(
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_nanos(),
    )
    .unwrap_or(u64::MAX)
    .saturating_add(1);
    let last = c.last_refusal_look.load(Ordering::Relaxed);
    let gap = u64::try_from(REFUSAL_LOOK.as_nanos()).unwrap_or(u64::MAX);
    (last == 0 || now.saturating_sub(last) >= gap)
        && c.last_refusal_look
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
}

/// Reads what the process really holds now, and counts what is not Cage's as taken (see the
/// module documentation). The budget does this by itself at start-up, as its charges grow and
/// on refusals; an application that just took (or released) many mappings, descriptors or
/// threads of its own can call it so that the next sandbox is judged on fresh numbers. Costs
/// a read of `/proc/self/maps` (a few milliseconds with tens of thousands of mappings).
pub fn remeasure() {
    look(counters());
}

/// Sets the process budget. What is already held stays held; new sandboxes must fit.
pub fn set_process_budget(budget: ProcessBudget) {
    let c = counters();
    for (l, v) in c.limit.iter().zip([
        budget.sandboxes,
        budget.address_space,
        budget.mappings,
        budget.descriptors,
        budget.threads,
    ]) {
        l.store(v, Ordering::SeqCst);
    }
    look(c);
}

/// The process budget in force.
pub fn process_budget() -> ProcessBudget {
    let l = &counters().limit;
    ProcessBudget {
        sandboxes: l[0].load(Ordering::SeqCst),
        address_space: l[1].load(Ordering::SeqCst),
        mappings: l[2].load(Ordering::SeqCst),
        descriptors: l[3].load(Ordering::SeqCst),
        threads: l[4].load(Ordering::SeqCst),
    }
}

/// What the process holds now: Cage's charges, the last measurement of the whole process, and
/// what the budget counts as held by others.
pub fn process_usage() -> ProcessUsage {
    let c = counters();
    let u = &c.used;
    let o = &c.others;
    let m = &c.measured;
    let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
    ProcessUsage {
        sandboxes: get(&u[0]),
        address_space: get(&u[1]),
        mappings: get(&u[2]),
        descriptors: get(&u[3]),
        threads: get(&u[4]),
        measured: (get(&m[2]) != u64::MAX).then(|| Measured {
            address_space: get(&m[1]),
            mappings: get(&m[2]),
            descriptors: get(&m[3]),
            threads: get(&m[4]),
        }),
        others: ProcessHeld {
            address_space: get(&o[1]),
            mappings: get(&o[2]),
            descriptors: get(&o[3]),
            threads: get(&o[4]),
        },
    }
}

/// Reserved budget; dropping it gives it back.
#[derive(Debug)]
pub struct Reservation(Cost);

impl Reservation {
    /// What it holds.
    pub fn cost(&self) -> Cost {
        self.0
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let u = &counters().used;
        for (c, a) in u.iter().zip(amounts(self.0)) {
            if a > 0 {
                c.fetch_sub(a, Ordering::AcqRel);
            }
        }
    }
}

/// Takes `cost` from the process budget, or refuses naming what would not fit.
///
/// What others hold (see the module documentation) counts against the budget; a charge that
/// would not fit is judged again after a fresh measurement before it is refused.
///
/// # Errors
/// `rejected: limit_exceeded`, naming the process budget and the quantity.
pub fn reserve(cost: Cost) -> Result<Reservation, Error> {
    let c = counters();
    let want = amounts(cost);
    // As Cage's charges grow, what others hold is looked at again now and then: before this
    // charge is added, so that it does not count as taken by others before it is really taken.
    if MEASURED.iter().any(|&i| {
        want[i] > 0 && c.used[i].load(Ordering::Relaxed) >= c.next_look[i].load(Ordering::Relaxed)
    }) {
        look(c);
    }
    let mut looked = false;
    let mut i = 0;
    while i < N {
        if want[i] == 0 {
            i += 1;
            continue;
        }
        let held = c.used[i].fetch_add(want[i], Ordering::AcqRel);
        let max = c.limit[i].load(Ordering::Acquire);
        let others = c.others[i].load(Ordering::Acquire);
        if held.saturating_add(want[i]).saturating_add(others) > max {
            // Give back what this call took, this one included.
            for (used, w) in c.used.iter().zip(want).take(i + 1) {
                if w > 0 {
                    used.fetch_sub(w, Ordering::AcqRel);
                }
            }
            if !looked && MEASURED.contains(&i) && may_look_again(c) {
                // Judge again on fresh numbers: others may have let go, or Cage overcounted.
                // At most every `REFUSAL_LOOK`: a guest whose opens are refused in a loop must
                // not make the host read `/proc` at every call.
                looked = true;
                look(c);
                i = 0;
                continue;
            }
            return Err(Error::reject(
                Rejection::LimitExceeded,
                format!(
                    "the process budget is exhausted: {} {held} held by Cage + {others} by the \
                     rest of the process + {} needed > {max} (cage::set_process_budget)",
                    NAMES[i], want[i]
                ),
            ));
        }
        i += 1;
    }
    Ok(Reservation(cost))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_is_measured() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let m = measure().expect("Linux has /proc/self");
        assert!(m[2] > 10, "a process has mappings: {m:?}");
        assert!(m[3] >= 3, "stdio at least: {m:?}");
        assert!(m[4] >= 1, "{m:?}");
        assert!(m[1] > 1 << 20, "{m:?}");
    }
}
