//! One epoch ticker per engine: a thread that increments the engine's epoch every period while
//! guests with a deadline run, records the time of each tick, and slows down when none runs.
//!
//! A call does not count ticks: arming it asks for a callback at the next tick
//! (`set_epoch_deadline(1)`), and the store's epoch callback judges by the wall clock: the first
//! tick after the call started notes the time, and the first tick at least `timeout` after that
//! traps `timeout`. So a deadline holds when the ticker thread is delayed (a late tick fires late,
//! never early and never by counting slept periods), and a call is stopped about one to two
//! periods after its deadline on an idle machine (the period:
//! [`cage_core::backend::deadline_period`], 1 % of the timeout, 0.5 to 10 ms).
//!
//! Arming costs a few plain loads and stores: the ticker stays *hot* (one tick per period) while
//! calls are armed or guests are running (every epoch callback re-heats it), and cools down to a
//! slow tick (`COLD`) after `LINGER` without either. A call armed while it is cold wakes it; in
//! the rare race where the wake-up is missed, the next slow tick picks the call up (so a deadline
//! can then be up to `COLD` late, never early).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wasmtime::Engine;

/// The tick period while cold.
const COLD: Duration = Duration::from_millis(10);
/// How long the ticker stays hot after the last sign of a running guest.
const LINGER: Duration = Duration::from_millis(100);

pub(crate) struct Shared {
    /// Set by calls and epoch callbacks, cleared by the thread: a guest with a deadline runs.
    hot: AtomicBool,
    stop: AtomicBool,
    /// The tick period while hot ([`cage_core::backend::deadline_period`]).
    period: Duration,
    pub(crate) start: Instant,
    /// The last tick, in nanoseconds since `start` (a coarse clock for callers).
    pub(crate) now: AtomicU64,
}

impl Shared {
    /// Marks a guest with a deadline as running.
    #[inline]
    pub(crate) fn heat(&self) -> bool {
        if self.hot.load(Ordering::Relaxed) {
            return false;
        }
        self.hot.store(true, Ordering::Relaxed);
        true
    }
}

/// The ticker thread of one engine; dropping it stops the thread.
pub(crate) struct Ticker {
    pub(crate) shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    /// Starts a ticker for `engine`.
    pub(crate) fn start(engine: &Engine, period: Duration) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            hot: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            period,
            start: Instant::now(),
            now: AtomicU64::new(0),
        });
        let s = shared.clone();
        let engine = engine.weak();
        let thread = std::thread::Builder::new()
            .name("cage-epoch".into())
            .spawn(move || run(&s, &engine))?;
        Ok(Ticker {
            shared,
            thread: Some(thread),
        })
    }

    /// Marks a call with a deadline as starting, and returns the coarse clock reading the
    /// host-visible deadline counts from (one period is added, so that it is not early while
    /// the ticker is hot).
    #[inline]
    pub(crate) fn arm(&self) -> (Instant, u64) {
        if self.shared.heat()
            && let Some(t) = &self.thread
        {
            t.thread().unpark();
        }
        let now = self.shared.now.load(Ordering::Relaxed);
        let period = u64::try_from(self.shared.period.as_nanos()).unwrap_or(0);
        (self.shared.start, now.saturating_add(period))
    }
}

fn run(shared: &Shared, engine: &wasmtime::EngineWeak) {
    let mut last_hot = Instant::now();
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let now = u64::try_from(shared.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        shared.now.store(now, Ordering::Relaxed);
        match engine.upgrade() {
            Some(e) => e.increment_epoch(),
            None => return,
        }
        // Swap the flag out: a running guest's next callback, or the next call, sets it again.
        if shared.hot.swap(false, Ordering::Relaxed) {
            last_hot = Instant::now();
        }
        if last_hot.elapsed() < LINGER {
            std::thread::sleep(shared.period);
        } else {
            std::thread::park_timeout(COLD);
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// A store's view of its current call's deadline, judged by the epoch callback.
#[derive(Default)]
pub(crate) struct Deadline {
    /// The current call's timeout.
    pub(crate) timeout: Duration,
    /// When the first tick after the call started was seen.
    pub(crate) seen: Option<Instant>,
    /// The ticker, kept hot by every callback while the guest runs.
    pub(crate) ticker: Option<Arc<Shared>>,
}

impl Deadline {
    /// The epoch callback's decision at a tick: trap once `timeout` has passed since the first
    /// tick seen, else wait for the next tick.
    pub(crate) fn tick(&mut self) -> wasmtime::UpdateDeadline {
        if let Some(t) = &self.ticker {
            t.heat();
        }
        let now = Instant::now();
        match self.seen {
            None => {
                self.seen = Some(now);
                wasmtime::UpdateDeadline::Continue(1)
            }
            Some(s) if now.duration_since(s) >= self.timeout => wasmtime::UpdateDeadline::Interrupt,
            Some(_) => wasmtime::UpdateDeadline::Continue(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_waits_for_the_timeout_after_the_first_tick() {
        let mut d = Deadline {
            timeout: Duration::from_millis(20),
            seen: None,
            ticker: None,
        };
        assert!(matches!(d.tick(), wasmtime::UpdateDeadline::Continue(1)));
        assert!(matches!(d.tick(), wasmtime::UpdateDeadline::Continue(1)));
        std::thread::sleep(Duration::from_millis(25));
        assert!(matches!(d.tick(), wasmtime::UpdateDeadline::Interrupt));
    }

    const PERIOD: Duration = Duration::from_micros(500);

    #[test]
    fn the_coarse_clock_follows_the_wall_clock() {
        let engine = Engine::default();
        let t = Ticker::start(&engine, PERIOD).unwrap();
        std::thread::sleep(LINGER + Duration::from_millis(50));
        let (base, offset) = t.arm();
        let coarse = base + Duration::from_nanos(offset);
        assert!(
            coarse + COLD + PERIOD >= Instant::now(),
            "cold: at most one slow tick old"
        );
        std::thread::sleep(Duration::from_millis(5));
        let (base, offset) = t.arm();
        let coarse = base + Duration::from_nanos(offset);
        let now = Instant::now();
        assert!(coarse + Duration::from_millis(3) >= now, "hot after a call");
    }
}
