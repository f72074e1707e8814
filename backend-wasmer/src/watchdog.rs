//! The deadline watchdog: one thread per runtime, and one slot per store.
//!
//! Arming a call is lock-free and costs a few plain stores: the store's slot records the call's
//! timeout and a new generation number, and the store's stop global is lowered. The watchdog
//! thread scans the slots every period while calls are armed: the first scan that sees a
//! generation notes the time, and once `timeout` has passed since then it raises the store's
//! stop global, which the guest checks at every function entry and loop header (Cage's
//! middleware), and raises it again every period until the call returns. Timing from the first
//! sighting means a call is never stopped early; it is stopped one to two periods (plus
//! scheduling delay) late. The period is [`cage_core::backend::deadline_period`]: 1 % of the
//! policy's timeout, between 0.5 and 10 ms. No signal is sent: the guest stops itself at a check point, never in
//! the middle of host code.
//!
//! With no call armed for `LINGER` the thread slows down to one scan per `COLD`; a call armed
//! then wakes it (in the rare race where the wake-up is missed, the next slow scan picks the call
//! up: a deadline can then be up to `COLD` late, never early).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::unsafe_api::DeadlineCell;

/// How long the thread keeps scanning every period after the last armed call.
const LINGER: Duration = Duration::from_millis(100);
/// The scan period while no call is armed.
const COLD: Duration = Duration::from_millis(10);

/// One store's deadline state, shared with the watchdog thread.
pub(crate) struct Slot {
    /// The generation of the armed call, 0 when disarmed.
    armed: AtomicU64,
    /// The armed call's timeout, in nanoseconds.
    timeout: AtomicU64,
    /// Whether the watchdog raised the stop global for the current call.
    fired: AtomicBool,
    /// The store's stop global.
    pub(crate) cell: DeadlineCell,
    /// Generations handed out (per slot).
    next: AtomicU64,
    /// Watchdog-only: the generation it saw last and when (nanoseconds since its start).
    seen: Mutex<(u64, u64)>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").finish_non_exhaustive()
    }
}

struct Shared {
    slots: Mutex<Vec<Weak<Slot>>>,
    /// Set by calls, cleared by the thread after `LINGER` without an armed call.
    hot: AtomicBool,
    stop: AtomicBool,
    /// How often armed calls are checked ([`cage_core::backend::deadline_period`]).
    period: Duration,
    start: Instant,
    /// The thread's last scan, in nanoseconds since `start` (a coarse clock for callers).
    now: AtomicU64,
}

/// The watchdog thread; dropping it stops the thread.
pub(crate) struct Watchdog {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
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
    pub(crate) fn start(period: Duration) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            slots: Mutex::new(Vec::new()),
            hot: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            period,
            start: Instant::now(),
            now: AtomicU64::new(0),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("cage-watchdog".into())
            .spawn(move || run(&s))?;
        Ok(Watchdog {
            shared,
            thread: Some(thread),
        })
    }

    /// A slot for one store (its stop global attached once it is instantiated).
    pub(crate) fn slot(&self) -> Arc<Slot> {
        let slot = Arc::new(Slot {
            armed: AtomicU64::new(0),
            timeout: AtomicU64::new(0),
            fired: AtomicBool::new(false),
            cell: DeadlineCell::default(),
            next: AtomicU64::new(1),
            seen: Mutex::new((0, 0)),
        });
        self.shared
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&slot));
        slot
    }

    /// Arms `slot` for a call with `timeout`, and returns the coarse clock reading the
    /// host-visible deadline counts from (one period is added, so that it is not early while the
    /// thread runs on time). Lock-free: plain loads and stores, and a wake-up only after the
    /// thread slowed down.
    #[inline]
    pub(crate) fn arm<'a>(&self, slot: &'a Slot, timeout: Duration) -> (Armed<'a>, Instant, u64) {
        let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        if slot.fired.load(Ordering::Relaxed) {
            slot.fired.store(false, Ordering::Relaxed);
        }
        slot.cell.clear();
        slot.timeout.store(nanos, Ordering::Relaxed);
        // Only the store's own thread arms its slot: no read-modify-write needed.
        let generation = slot.next.load(Ordering::Relaxed).wrapping_add(1).max(1);
        slot.next.store(generation, Ordering::Relaxed);
        // Release: the watchdog's reads of the timeout see this call's. (Only disarming needs
        // the sequentially consistent handshake with `DeadlineCell::fire`.)
        slot.armed.store(generation, Ordering::Release);
        let shared = &self.shared;
        if !shared.hot.load(Ordering::Relaxed) {
            shared.hot.store(true, Ordering::Relaxed);
            if let Some(t) = &self.thread {
                t.thread().unpark();
            }
        }
        let now = shared.now.load(Ordering::Relaxed);
        let period = u64::try_from(shared.period.as_nanos()).unwrap_or(0);
        (Armed { slot }, shared.start, now.saturating_add(period))
    }
}

/// Checks every slot once; true when a call is armed.
fn scan(shared: &Shared, now: u64) -> bool {
    let mut any = false;
    // The lock is held only to copy the list: stores register their slots without waiting
    // for a scan.
    let slots: Vec<Arc<Slot>> = {
        let mut slots = shared.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.retain(|w| w.strong_count() > 0);
        slots.iter().filter_map(Weak::upgrade).collect()
    };
    for slot in slots {
        let generation = slot.armed.load(Ordering::Acquire);
        if generation == 0 {
            continue;
        }
        any = true;
        let mut seen = slot.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.0 != generation {
            *seen = (generation, now);
            continue;
        }
        let timeout = slot.timeout.load(Ordering::Relaxed);
        if now.saturating_sub(seen.1) >= timeout
            && slot
                .cell
                .fire(|| slot.armed.load(Ordering::SeqCst) == generation)
        {
            slot.fired.store(true, Ordering::Release);
        }
    }
    any
}

fn run(shared: &Shared) {
    let mut last_armed = Instant::now();
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let now = u64::try_from(shared.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        shared.now.store(now, Ordering::Relaxed);
        if scan(shared, now) {
            last_armed = Instant::now();
            shared.hot.store(true, Ordering::Relaxed);
        }
        if last_armed.elapsed() < LINGER {
            std::thread::sleep(shared.period);
        } else {
            shared.hot.store(false, Ordering::Relaxed);
            std::thread::park_timeout(COLD);
            if shared.hot.load(Ordering::Relaxed) {
                last_armed = Instant::now();
            }
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicI32;

    /// A slot whose stop global is a leaked cell the test can watch.
    fn watched(w: &Watchdog) -> (Arc<Slot>, &'static AtomicI32) {
        let cell: &'static AtomicI32 = Box::leak(Box::new(AtomicI32::new(0)));
        let slot = w.slot();
        slot.cell.attach_static(cell);
        (slot, cell)
    }

    #[test]
    fn fires_after_the_deadline_and_not_after_the_call() {
        let w = Watchdog::start(Duration::from_micros(500)).unwrap();
        let (slot, cell) = watched(&w);
        let start = Instant::now();
        let (armed, _, _) = w.arm(&slot, Duration::from_millis(30));
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
        let (armed, _, _) = w.arm(&slot, Duration::from_secs(10));
        assert!(!armed.fired());
        assert_eq!(slot.cell.get(), 0);
    }

    #[test]
    fn an_early_return_never_fires() {
        let w = Watchdog::start(Duration::from_micros(500)).unwrap();
        let (slot, cell) = watched(&w);
        for _ in 0..20 {
            let (armed, _, _) = w.arm(&slot, Duration::from_millis(30));
            std::thread::sleep(Duration::from_millis(5));
            drop(armed);
        }
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cell.load(Ordering::SeqCst), 0);
    }
}
