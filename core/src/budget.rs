//! The process-wide budget: what all sandboxes of every runtime in this process may hold at
//! once. `limits.max_instances` caps one runtime; this caps the process, whatever policies its
//! runtimes have, so that the thousand-and-first tenant is refused with a typed rejection
//! (`rejected: limit_exceeded`, naming the budget) before any memory is mapped, instead of
//! failing deep inside a runtime (a failed `mmap` as a trap, a thread that cannot start, a
//! panic) when the operating system runs out.
//!
//! Three quantities are counted, each sandbox charged what its backend says it reserves
//! ([`crate::backend::Backend::sandbox_cost`]) when it is made, and refunded when it is dropped:
//! live sandboxes, reserved virtual address space, and memory mappings (the kernel's
//! `vm.max_map_count`). A runtime that reserves up front (Wasmtime's pooling allocator) charges
//! its reservation once, when it is made ([`reserve`]).
//!
//! The default is derived from the machine, with a margin: three quarters of the user address
//! space (128 TiB on x86-64 and aarch64 with 4-level page tables), three quarters of
//! `vm.max_map_count` (Linux; 65 530 unless raised), and one sandbox per 64 KiB of physical
//! memory. An application sets its own with [`set_process_budget`].

use std::sync::{Mutex, MutexGuard, OnceLock};

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
}

impl ProcessBudget {
    /// A budget of these amounts.
    pub fn new(sandboxes: u64, address_space: u64, mappings: u64) -> Self {
        ProcessBudget {
            sandboxes,
            address_space,
            mappings,
        }
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
        }
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
}

impl Cost {
    /// One sandbox reserving `address_space` bytes in `mappings` mappings.
    pub fn sandbox(address_space: u64, mappings: u64) -> Self {
        Cost {
            sandboxes: 1,
            address_space,
            mappings,
        }
    }

    /// A reservation made once (a pool), not a sandbox.
    pub fn reservation(address_space: u64, mappings: u64) -> Self {
        Cost {
            sandboxes: 0,
            address_space,
            mappings,
        }
    }
}

struct State {
    budget: ProcessBudget,
    usage: ProcessUsage,
}

fn state() -> MutexGuard<'static, State> {
    static STATE: OnceLock<Mutex<State>> = OnceLock::new();
    STATE
        .get_or_init(|| {
            Mutex::new(State {
                budget: ProcessBudget::for_this_machine(),
                usage: ProcessUsage::default(),
            })
        })
        .lock()
        // Only counters live here: a panic cannot leave them half-updated.
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sets the process budget. What is already held stays held; new sandboxes must fit.
pub fn set_process_budget(budget: ProcessBudget) {
    state().budget = budget;
}

/// The process budget in force.
pub fn process_budget() -> ProcessBudget {
    state().budget
}

/// What the process holds now.
pub fn process_usage() -> ProcessUsage {
    state().usage
}

/// Reserved budget; dropping it gives it back.
#[derive(Debug)]
pub struct Reservation(Cost);

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut s = state();
        let u = &mut s.usage;
        u.sandboxes = u.sandboxes.saturating_sub(self.0.sandboxes);
        u.address_space = u.address_space.saturating_sub(self.0.address_space);
        u.mappings = u.mappings.saturating_sub(self.0.mappings);
    }
}

/// Takes `cost` from the process budget, or refuses naming what would not fit.
///
/// # Errors
/// `rejected: limit_exceeded`, naming the process budget and the quantity.
pub fn reserve(cost: Cost) -> Result<Reservation, Error> {
    let mut s = state();
    let (b, u) = (s.budget, s.usage);
    let over = |what: &str, held: u64, need: u64, max: u64| {
        Err(Error::reject(
            Rejection::LimitExceeded,
            format!(
                "the process budget is exhausted: {what} {held} held + {need} needed > {max} \
                 (cage::set_process_budget)"
            ),
        ))
    };
    if u.sandboxes.saturating_add(cost.sandboxes) > b.sandboxes {
        return over("sandboxes", u.sandboxes, cost.sandboxes, b.sandboxes);
    }
    if u.address_space.saturating_add(cost.address_space) > b.address_space {
        return over(
            "address space (bytes)",
            u.address_space,
            cost.address_space,
            b.address_space,
        );
    }
    if u.mappings.saturating_add(cost.mappings) > b.mappings {
        return over("memory mappings", u.mappings, cost.mappings, b.mappings);
    }
    let u = &mut s.usage;
    u.sandboxes += cost.sandboxes;
    u.address_space += cost.address_space;
    u.mappings += cost.mappings;
    Ok(Reservation(cost))
}
