//! The process-wide budget: what all sandboxes of every runtime in this process may hold at
//! once. `limits.max_instances` caps one runtime; this caps the process, whatever policies its
//! runtimes have, so that the thousand-and-first tenant is refused with a typed rejection
//! (`rejected: limit_exceeded`, naming the budget) before any memory is mapped, instead of
//! failing deep inside a runtime (a failed `mmap` as a trap, a thread that cannot start, a
//! panic) when the operating system runs out.
//!
//! Four quantities are counted, each sandbox charged what its backend says it reserves
//! ([`crate::backend::Backend::sandbox_cost`]) when it is made, and refunded when it is dropped:
//! live sandboxes, reserved virtual address space, memory mappings (the kernel's
//! `vm.max_map_count`), and file descriptors (WASI preopens and files a guest opens, each
//! charged while it is open). A runtime that reserves up front (Wasmtime's pooling allocator)
//! charges its reservation once, when it is made ([`reserve`]).
//!
//! The default is derived from the machine, with a margin: three quarters of the user address
//! space (128 TiB on x86-64 and aarch64 with 4-level page tables), three quarters of
//! `vm.max_map_count` (Linux; 65 530 unless raised), one sandbox per 64 KiB of physical
//! memory, and the process's descriptor limit (`RLIMIT_NOFILE`) less a reserve of a quarter
//! (at least 64) that tenants never reach, for the host's own sockets, logs and caches. An
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
    /// File descriptors held for guests (WASI preopens and open files).
    pub descriptors: u64,
}

impl ProcessBudget {
    /// A budget of these amounts, and this machine's default descriptors
    /// ([`ProcessBudget::with_descriptors`] sets them).
    pub fn new(sandboxes: u64, address_space: u64, mappings: u64) -> Self {
        ProcessBudget {
            sandboxes,
            address_space,
            mappings,
            descriptors: default_descriptors(),
        }
    }

    /// The same budget with `descriptors` file descriptors for guests.
    #[must_use]
    pub fn with_descriptors(mut self, descriptors: u64) -> Self {
        self.descriptors = descriptors;
        self
    }

    /// The default for this machine (see the module documentation).
    pub fn for_this_machine() -> Self {
        let address_space = if cfg!(target_pointer_width = "64") {
            (128u64 << 40) / 4 * 3
        } else {
            (2u64 << 30) / 4 * 3
        };
        let mappings = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(65_530)
            / 4
            * 3;
        let sandboxes = physical_memory().map_or(1_000_000, |m| (m / (64 << 10)).max(1_000));
        ProcessBudget {
            sandboxes,
            address_space,
            mappings,
            descriptors: default_descriptors(),
        }
    }
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
    /// Reserved address space, in bytes.
    pub address_space: u64,
    /// Memory mappings.
    pub mappings: u64,
    /// File descriptors held for guests.
    pub descriptors: u64,
}

/// What one sandbox (or one runtime's up-front pool) reserves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cost {
    /// Sandboxes (1 for a sandbox, 0 for a pool).
    pub sandboxes: u64,
    /// Address space, in bytes.
    pub address_space: u64,
    /// Memory mappings.
    pub mappings: u64,
    /// File descriptors.
    pub descriptors: u64,
}

impl Cost {
    /// One sandbox reserving `address_space` bytes in `mappings` mappings.
    pub fn sandbox(address_space: u64, mappings: u64) -> Self {
        Cost {
            sandboxes: 1,
            address_space,
            mappings,
            descriptors: 0,
        }
    }

    /// A reservation made once (a pool), not a sandbox.
    pub fn reservation(address_space: u64, mappings: u64) -> Self {
        Cost {
            sandboxes: 0,
            address_space,
            mappings,
            descriptors: 0,
        }
    }

    /// `n` file descriptors held for a guest.
    pub fn descriptors(n: u64) -> Self {
        Cost {
            descriptors: n,
            ..Cost::default()
        }
    }
}

/// The budget and the usage, as atomics: charging a sandbox is three additions, no lock
/// (instance-per-request on many threads must not queue here).
struct Counters {
    limit: [AtomicU64; N],
    used: [AtomicU64; N],
}

/// How many quantities are counted.
const N: usize = 4;

fn counters() -> &'static Counters {
    static C: OnceLock<Counters> = OnceLock::new();
    C.get_or_init(|| {
        let b = ProcessBudget::for_this_machine();
        Counters {
            limit: [
                AtomicU64::new(b.sandboxes),
                AtomicU64::new(b.address_space),
                AtomicU64::new(b.mappings),
                AtomicU64::new(b.descriptors),
            ],
            used: Default::default(),
        }
    })
}

const NAMES: [&str; N] = [
    "sandboxes",
    "address space (bytes)",
    "memory mappings",
    "file descriptors",
];

fn amounts(c: Cost) -> [u64; N] {
    [c.sandboxes, c.address_space, c.mappings, c.descriptors]
}

/// Sets the process budget. What is already held stays held; new sandboxes must fit.
pub fn set_process_budget(budget: ProcessBudget) {
    let c = counters();
    for (l, v) in c.limit.iter().zip([
        budget.sandboxes,
        budget.address_space,
        budget.mappings,
        budget.descriptors,
    ]) {
        l.store(v, Ordering::SeqCst);
    }
}

/// The process budget in force.
pub fn process_budget() -> ProcessBudget {
    let l = &counters().limit;
    ProcessBudget {
        sandboxes: l[0].load(Ordering::SeqCst),
        address_space: l[1].load(Ordering::SeqCst),
        mappings: l[2].load(Ordering::SeqCst),
        descriptors: l[3].load(Ordering::SeqCst),
    }
}

/// What the process holds now.
pub fn process_usage() -> ProcessUsage {
    let u = &counters().used;
    ProcessUsage {
        sandboxes: u[0].load(Ordering::SeqCst),
        address_space: u[1].load(Ordering::SeqCst),
        mappings: u[2].load(Ordering::SeqCst),
        descriptors: u[3].load(Ordering::SeqCst),
    }
}

/// Reserved budget; dropping it gives it back.
#[derive(Debug)]
pub struct Reservation(Cost);

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
/// # Errors
/// `rejected: limit_exceeded`, naming the process budget and the quantity.
pub fn reserve(cost: Cost) -> Result<Reservation, Error> {
    let c = counters();
    let want = amounts(cost);
    for i in 0..N {
        if want[i] == 0 {
            continue;
        }
        let held = c.used[i].fetch_add(want[i], Ordering::AcqRel);
        let max = c.limit[i].load(Ordering::Acquire);
        if held.saturating_add(want[i]) > max {
            // Give back what this call took, this one included.
            for (used, w) in c.used.iter().zip(want).take(i + 1) {
                if w > 0 {
                    used.fetch_sub(w, Ordering::AcqRel);
                }
            }
            return Err(Error::reject(
                Rejection::LimitExceeded,
                format!(
                    "the process budget is exhausted: {} {held} held + {} needed > {max} \
                     (cage::set_process_budget)",
                    NAMES[i], want[i]
                ),
            ));
        }
    }
    Ok(Reservation(cost))
}
