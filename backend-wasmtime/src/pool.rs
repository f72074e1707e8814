//! Wasmtime's pooling instance allocator, sized from the policy.
//!
//! The pool reserves, once per runtime, a slot for every instance, memory and table the policy
//! can have alive at once (`max_instances` × `max_memories`/`max_tables`, plus one GC heap per
//! instance when `gc` is allowed). Instantiating then takes a slot instead of mapping memory:
//! the memory image is mapped copy-on-write and a slot that served the same module keeps its
//! mapping. Deallocating a slot resets it (Wasmtime decommits what the instance touched with
//! `madvise(MADV_DONTNEED)`, in batches, and a slot is not handed out again before its batch is
//! reset), so nothing one guest wrote is visible to the next; `tests/pooling.rs` proves it.
//!
//! Each sandbox's caps stay Cage's `ResourceLimiter`'s: the pool's own limits are set at or
//! above them, so growth past a cap fails exactly as without the pool.
//!
//! The pool is used only when it fits: no `threads` (Wasmtime's pool cannot hold shared
//! memories), `max_memory` ≤ the 4 GiB reservation that lets Cranelift elide bounds checks,
//! and the whole reservation within [`ADDRESS_SPACE_BUDGET`]. Otherwise, or when the host
//! refuses the reservation, the runtime uses Wasmtime's on-demand allocator, which behaves the
//! same, only slower to instantiate; [`crate::Wasmtime::allocator`] says which.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use cage_core::Policy;
use cage_core::budget::{Cost, Reservation};
use cage_core::policy::{MemoryReservation, SMALL_MEMORY_GUARD};
use wasmtime::PoolingAllocationConfig;

/// Virtual memory Wasmtime reserves for each linear memory on 64-bit hosts (its default
/// `memory_reservation`, unchanged so compiled code is the same as without the pool).
const FULL_RESERVATION: u64 = 4 << 30;
/// Wasmtime's default guard region after each memory.
const FULL_GUARD: u64 = 32 << 20;

/// What each linear memory reserves under `policy`, and its guard: Wasmtime's defaults with
/// `memory_reservation = "full"`; `max_memory` (whole pages, at least one) and a 64 KiB guard
/// with `"max_memory"`, where Cranelift then compiles explicit bounds checks.
pub(crate) fn memory_layout(policy: &Policy) -> (u64, u64) {
    match policy.limits.memory_reservation {
        MemoryReservation::MaxMemory => (
            policy
                .limits
                .max_memory
                .bytes()
                .div_ceil(65_536)
                .max(1)
                .saturating_mul(65_536),
            SMALL_MEMORY_GUARD,
        ),
        _ => (FULL_RESERVATION, FULL_GUARD),
    }
}
/// Address space one runtime's pool may reserve: 16 TiB, an eighth of x86-64's user space.
/// The default policy (1 000 instances, one memory and one GC heap each) needs about 8 TiB.
pub const ADDRESS_SPACE_BUDGET: u64 = 16 << 40;
/// Upper bound on one instance's `VMContext`, in bytes per byte of module: a function import
/// takes about 4 bytes in the binary and 64 in the `VMContext`, a global 3 and 16.
const CONTEXT_PER_MODULE_BYTE: u64 = 64;

/// Bytes of each pooled memory reset in place rather than decommitted.
const KEEP_RESIDENT: usize = 4096;

/// Deallocated slots reset together (Wasmtime's `decommit_batch_size`): fewer, larger system
/// calls; measured 15 % off `instantiate/trivial`.
const DECOMMIT_BATCH: u64 = 32;

/// Address space and mappings one memory takes with the on-demand allocator: the reservation,
/// a guard before and after, and three mappings (guard, accessible pages, the copy-on-write
/// image).
pub(crate) fn on_demand_memory(policy: &Policy) -> (u64, u64) {
    let (reservation, guard) = memory_layout(policy);
    (reservation + 2 * guard, mappings_per_memory(policy))
}

/// Mappings one live memory takes: its accessible pages, the rest of its reservation and guard,
/// and with `memory_reservation = "full"` the copy-on-write image of its data segments (with
/// `"max_memory"` data is copied instead, to save that mapping).
pub(crate) fn mappings_per_memory(policy: &Policy) -> u64 {
    match policy.limits.memory_reservation {
        MemoryReservation::MaxMemory => 2,
        _ => 3,
    }
}

/// One async stack, with its guard page: `max_stack` plus the host's margin (Wasmtime's
/// `async_stack_size`), rounded up to pages, plus a page.
pub(crate) fn async_stack_bytes(policy: &Policy) -> u64 {
    const PAGE: u64 = 4096;
    policy
        .limits
        .max_stack
        .bytes()
        .saturating_add(cage_core::backend::HOST_STACK_MARGIN as u64)
        .div_ceil(PAGE)
        .saturating_mul(PAGE)
        .saturating_add(PAGE)
}

/// Mappings of the pool's async stacks (feature `async`): Wasmtime reserves one stack per
/// instance up front and protects each one's guard page, which splits the mapping in two per
/// stack. Without the feature there is no stack pool.
pub(crate) fn stack_mappings(policy: &Policy) -> u64 {
    if cfg!(feature = "async") {
        2 * u64::from(policy.limits.max_instances).max(1)
    } else {
        0
    }
}

/// What the pool for `policy` reserves, for the process budget: `None` when it is not used.
/// With the `async` feature, one async stack per instance too (see [`stack_mappings`]).
pub(crate) fn reservation(policy: &Policy) -> u64 {
    let l = &policy.limits;
    let gc = u64::from(policy.features.contains(cage_core::Proposal::Gc));
    let instances = u64::from(l.max_instances);
    let memories = instances * (u64::from(l.max_memories) + gc);
    let tables = instances * u64::from(l.max_tables);
    let (reservation, guard) = memory_layout(policy);
    let stacks = if cfg!(feature = "async") {
        instances.max(1).saturating_mul(async_stack_bytes(policy))
    } else {
        0
    };
    memories
        .saturating_mul(reservation + guard)
        .saturating_add(tables.saturating_mul(l.max_table_elements.saturating_mul(8)))
        .saturating_add(stacks)
}

/// Unused slots the pool keeps warm before it reuses them (Wasmtime's `max_unused_warm_slots`,
/// its default).
const WARM_SLOTS: u64 = 100;

/// The slots of a pool that instances have touched, charged to the process budget.
///
/// A pooled memory or table splits the pool's mapping where its accessible part ends, and
/// keeps that split after its instance is gone (measured: 2 mappings per slot stay after every
/// sandbox is dropped), until the pool is unmapped with its engine. So slots are charged as
/// they are first touched and given back only when the runtime and every store of it are gone.
/// Wasmtime takes a fresh slot only while fewer than `WARM_SLOTS` used ones are free, so the
/// slots ever touched are at most the most instances alive at once plus `WARM_SLOTS`: that
/// bound is what is charged.
pub(crate) struct Slots {
    live: AtomicU64,
    /// Slots charged so far.
    charged: AtomicU64,
    /// Instance slots in the pool.
    total: u64,
    /// Mappings one instance slot may keep: its memories and tables.
    per_slot: u64,
    held: Mutex<Vec<Reservation>>,
}

impl Slots {
    /// The touched-slot account of the pool for `policy`.
    pub(crate) fn new(policy: &Policy) -> Self {
        let l = &policy.limits;
        Slots {
            live: AtomicU64::new(0),
            charged: AtomicU64::new(0),
            total: u64::from(l.max_instances).max(1),
            per_slot: mappings_per_memory(policy) * u64::from(l.max_memories)
                + u64::from(l.max_tables),
            held: Mutex::new(Vec::new()),
        }
    }

    /// One more instance alive: charges the slots it may newly touch.
    ///
    /// # Errors
    /// `rejected: limit_exceeded` when the process budget has no room for them.
    pub(crate) fn enter(self: &Arc<Self>) -> Result<SlotInUse, cage_core::Error> {
        let live = self.live.fetch_add(1, Ordering::AcqRel) + 1;
        let guard = SlotInUse(self.clone());
        let want = (live + WARM_SLOTS).min(self.total);
        if want > self.charged.load(Ordering::Acquire) {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            let charged = self.charged.load(Ordering::Acquire);
            if want > charged {
                held.push(cage_core::budget::reserve(Cost::reservation(
                    0,
                    (want - charged) * self.per_slot,
                ))?);
                self.charged.store(want, Ordering::Release);
            }
        }
        Ok(guard)
    }
}

/// One live instance of a pool; dropping it frees its place (its slot stays charged).
pub(crate) struct SlotInUse(Arc<Slots>);

impl Drop for SlotInUse {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Which instance allocator a Wasmtime runtime uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Allocator {
    /// The pooling allocator, sized from the policy.
    Pooling,
    /// Wasmtime's default: memory mapped and unmapped per instance.
    OnDemand,
}

impl Allocator {
    /// `pooling` or `on-demand`.
    pub fn as_str(self) -> &'static str {
        match self {
            Allocator::Pooling => "pooling",
            Allocator::OnDemand => "on-demand",
        }
    }
}

/// The pool for `policy`, or why it is not used.
pub(crate) fn config(policy: &Policy) -> Result<PoolingAllocationConfig, &'static str> {
    if cfg!(not(target_pointer_width = "64")) {
        return Err("the pool needs a 64-bit address space");
    }
    let l = &policy.limits;
    if policy.features.contains(cage_core::Proposal::Threads) {
        return Err("Wasmtime's pool cannot hold shared memories (threads)");
    }
    let (reservation, guard) = memory_layout(policy);
    if l.max_memory.bytes() > reservation {
        return Err("max_memory is above the 4 GiB a pooled memory can reach");
    }
    let gc = u64::from(policy.features.contains(cage_core::Proposal::Gc));
    let instances = u64::from(l.max_instances);
    let memories = instances * (u64::from(l.max_memories) + gc);
    let tables = instances * u64::from(l.max_tables);
    let table_bytes = l.max_table_elements.saturating_mul(8);
    let reserved = memories
        .saturating_mul(reservation + guard)
        .saturating_add(tables.saturating_mul(table_bytes));
    if reserved > ADDRESS_SPACE_BUDGET {
        return Err(
            "the pool for max_instances × (max_memories, max_tables) exceeds the address-space budget",
        );
    }
    let as_u32 = |n: u64| u32::try_from(n).map_err(|_| "pool counts exceed u32");
    let as_usize = |n: u64| usize::try_from(n).map_err(|_| "pool sizes exceed usize");
    let mut c = PoolingAllocationConfig::new();
    c.total_core_instances(as_u32(instances.max(1))?)
        .total_memories(as_u32(memories.max(1))?)
        .total_tables(as_u32(tables.max(1))?)
        .total_gc_heaps(as_u32((instances * gc).max(1))?)
        // Cage runs no component.
        .total_component_instances(0)
        // Slots are reused before new ones are touched once this many are warm and unused:
        // what bounds the slots (and their mappings) a runtime ever touches (see `Slots`).
        .max_unused_warm_slots(WARM_SLOTS as u32)
        // Slots are reset (`madvise`) in batches: a slot waiting in the batch is not reused
        // until its batch is flushed, and a full pool flushes before it gives up.
        .decommit_batch_size(as_usize(instances.clamp(1, DECOMMIT_BATCH))?)
        // The first page of a memory is reset by zeroing (or restoring the image), not by
        // `madvise`: no system call and no TLB shootdown of the other cores for a small guest,
        // which is what kept instance-per-request from using a second core (measured: 417 k →
        // 620 k requests/s on one thread). Pages past it are decommitted as before.
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .max_memories_per_module(l.max_memories)
        .max_tables_per_module(l.max_tables)
        // The limiter enforces `max_memory`; the pool lets memories reach the reservation.
        .max_memory_size(as_usize(reservation)?)
        .table_elements(as_usize(l.max_table_elements.max(1))?)
        .max_core_instance_size(as_usize(
            l.max_module_size
                .bytes()
                .saturating_mul(CONTEXT_PER_MODULE_BYTE)
                .clamp(1 << 20, 1 << 40),
        )?);
    // Async stacks: one per instance, since each store keeps the stack of its last async call
    // while it lives; charged with the pool (see `reservation`).
    #[cfg(feature = "async")]
    c.total_stacks(as_u32(instances.max(1))?);
    Ok(c)
}
