//! The deadline watchdog: core's pacer ([`cage_core::backend::Pacer`]), one per runtime, and
//! one slot per store.
//!
//! Arming a call is lock-free and costs a few plain stores: the store's slot records the call's
//! deadline (fixed when the call starts: the pacer's precise clock plus the timeout) and a new
//! generation number, and the store's stop global is lowered. At every tick the pacer scans the
//! slots: once its coarse clock has reached an armed call's deadline it raises that store's
//! stop global, which the guest checks at every function entry and loop header (Cage's
//! middleware), and raises it again every tick until the call returns. The coarse clock is never
//! ahead of the real one, so a call is never stopped early; it is stopped about one period late
//! (plus scheduling delay). No signal is sent: the guest stops itself at a check point, never in
//! the middle of host code.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use cage_core::backend::{Pacer, deadline_period};

use crate::unsafe_api::DeadlineCell;

/// One store's deadline state, shared with the pacer thread.
pub(crate) struct Slot {
    /// The generation of the armed call, 0 when disarmed.
    armed: AtomicU64,
    /// The armed call's deadline, in the pacer clock's nanoseconds.
    deadline: AtomicU64,
    /// Whether the watchdog raised the stop global for the current call.
    fired: AtomicBool,
    /// The store's stop global.
    pub(crate) cell: DeadlineCell,
    /// Generations handed out (per slot).
    next: AtomicU64,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").finish_non_exhaustive()
    }
}

/// The stores' slots, shared by the runtime and its pacer thread.
#[derive(Default)]
struct Slots(Mutex<Vec<Weak<Slot>>>);

/// The watchdog: the pacer thread and the slots it scans; dropping it stops the thread.
pub(crate) struct Watchdog {
    slots: Arc<Slots>,
    pacer: Pacer,
}

impl std::fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchdog").finish_non_exhaustive()
    }
}

/// A call under a deadline; dropping it (when the call returns) disarms the deadline.
pub(crate) struct Armed<'a> {
    slot: &'a Slot,
}

impl Armed<'_> {
    /// Whether the watchdog raised the stop global for this call.
    #[cfg(test)]
    pub(crate) fn fired(&self) -> bool {
        self.slot.fired.load(Ordering::Acquire)
    }
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.slot.armed.store(0, Ordering::SeqCst);
        // No write to the instance's stop global may follow the end of the call.
        self.slot.cell.quiesce();
    }
}

impl Watchdog {
    /// Starts the watchdog for calls with `timeout`.
    pub(crate) fn start(timeout: Duration) -> Result<Self, cage_core::Error> {
        let slots = Arc::new(Slots::default());
        let s = slots.clone();
        let pacer = Pacer::start("cage-watchdog", deadline_period(timeout), move |_, now| {
            scan(&s, now)
        })?;
        Ok(Watchdog { slots, pacer })
    }

    /// A slot for one store (its stop global attached once it is instantiated).
    pub(crate) fn slot(&self) -> Arc<Slot> {
        let slot = Arc::new(Slot {
            armed: AtomicU64::new(0),
            deadline: AtomicU64::new(0),
            fired: AtomicBool::new(false),
            cell: DeadlineCell::default(),
            next: AtomicU64::new(1),
        });
        self.slots
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&slot));
        slot
    }

    /// The pacer's clock.
    pub(crate) fn clock(&self) -> &cage_core::backend::Clock {
        self.pacer.clock()
    }

    /// Arms `slot` for a call with `timeout` that starts now, and returns its deadline on the
    /// pacer's clock. Lock-free: plain loads and stores, and a wake-up only after the pacer
    /// slowed down.
    #[inline]
    pub(crate) fn arm<'a>(&self, slot: &'a Slot, timeout: Duration) -> (Armed<'a>, u64) {
        if slot.fired.load(Ordering::Relaxed) {
            slot.fired.store(false, Ordering::Relaxed);
        }
        slot.cell.clear();
        let deadline = self.pacer.arm(timeout);
        slot.deadline.store(deadline, Ordering::Relaxed);
        // Only the store's own thread arms its slot: no read-modify-write needed.
        let generation = slot.next.load(Ordering::Relaxed).wrapping_add(1).max(1);
        slot.next.store(generation, Ordering::Relaxed);
        // Release: the pacer's reads of the deadline see this call's. (Only disarming needs
        // the sequentially consistent handshake with `DeadlineCell::fire`.)
        slot.armed.store(generation, Ordering::Release);
        (Armed { slot }, deadline)
    }
}

/// Checks every slot once at coarse time `now`; true when a call is armed.
fn scan(slots: &Slots, now: u64) -> bool {
    let mut any = false;
    // The lock is held only to copy the list: stores register their slots without waiting
    // for a scan.
    let slots: Vec<Arc<Slot>> = {
        let mut slots = slots.0.lock().unwrap_or_else(PoisonError::into_inner);
        slots.retain(|w| w.strong_count() > 0);
        slots.iter().filter_map(Weak::upgrade).collect()
    };
    for slot in slots {
        let generation = slot.armed.load(Ordering::Acquire);
        if generation == 0 {
            continue;
        }
        any = true;
        if now >= slot.deadline.load(Ordering::Relaxed)
            && slot
                .cell
                .fire(|| slot.armed.load(Ordering::SeqCst) == generation)
        {
            slot.fired.store(true, Ordering::Release);
        }
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicI32;
    use std::time::Instant;

    /// A slot whose stop global is a leaked cell the test can watch.
    fn watched(w: &Watchdog) -> (Arc<Slot>, &'static AtomicI32) {
        let cell: &'static AtomicI32 = Box::leak(Box::new(AtomicI32::new(0)));
        let slot = w.slot();
        slot.cell.attach_static(cell);
        (slot, cell)
    }

    #[test]
    fn fires_after_the_deadline_and_not_after_the_call() {
        let w = Watchdog::start(Duration::from_millis(50)).unwrap();
        let (slot, cell) = watched(&w);
        let start = Instant::now();
        let (armed, _) = w.arm(&slot, Duration::from_millis(30));
        while cell.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(armed.fired());
        drop(armed);
        cell.store(0, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            cell.load(Ordering::SeqCst),
            0,
            "nothing raised once disarmed"
        );
        // Arming again lowers it and starts over.
        let (armed, _) = w.arm(&slot, Duration::from_secs(10));
        assert!(!armed.fired());
        assert_eq!(slot.cell.get(), 0);
    }

    #[test]
    fn an_early_return_never_fires() {
        let w = Watchdog::start(Duration::from_millis(50)).unwrap();
        let (slot, cell) = watched(&w);
        for _ in 0..20 {
            let (armed, _) = w.arm(&slot, Duration::from_millis(30));
            std::thread::sleep(Duration::from_millis(5));
            drop(armed);
        }
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cell.load(Ordering::SeqCst), 0);
    }
}
