//! Deadlines, written once for every backend: the pacer thread, the coarse clock, and when a
//! call's deadline is.
//!
//! A runtime with a `timeout` starts one [`Pacer`]: a thread that, every period
//! ([`deadline_period`]: 1 % of the timeout, 0.5 to 10 ms), reads the clock into a coarse
//! clock and calls the backend's tick (Wasmtime increments its engine's epoch; Wasmer raises
//! the stop flags of the calls that are due). It runs *hot* (one tick per period) while calls
//! are armed or guests run, and cools down to one tick per `COLD` after `LINGER` without
//! either; arming a call wakes it.
//!
//! A call's deadline is fixed when the call starts ([`Pacer::arm`]): the precise time then, plus
//! the timeout, in nanoseconds of the pacer's clock. Backends stop a guest once the coarse
//! clock has reached it, so a guest is never stopped early (the coarse clock is never ahead of
//! the real one) and is stopped about one period late on an idle machine (later when the pacer
//! thread itself waits for a core). Time the call spends in host functions counts: the clock
//! starts when the call starts, not when the guest is first seen running, and a host function
//! that returns past the deadline ends the call `trapped: timeout`
//! ([`crate::HostFunc::invoke`]).

#[cfg(feature = "async")]
mod timer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The tick period while cold.
const COLD: Duration = Duration::from_millis(10);
/// How long the pacer stays hot after the last sign of a running guest.
const LINGER: Duration = Duration::from_millis(100);

/// How often a runtime's pacer ticks while calls run, for the policy's `timeout`: 1 % of it,
/// between 0.5 ms and 10 ms. A call is stopped within about two periods after its deadline,
/// never before it, so a deadline's precision is about 2 % (at least 1 ms); and a pacer that
/// wakes up less often costs the guests less.
pub fn deadline_period(timeout: Duration) -> Duration {
    (timeout / 100).clamp(Duration::from_micros(500), Duration::from_millis(10))
}

struct Shared {
    /// Set by calls and by running guests, swapped out by the thread: a guest with a deadline
    /// runs.
    hot: AtomicBool,
    stop: AtomicBool,
    period: Duration,
    start: Instant,
    /// The last tick, in nanoseconds since `start`.
    now: AtomicU64,
}

/// The pacer's clock, shared with the stores of its runtime: cheap to clone, cheap to read.
#[derive(Clone)]
pub struct Clock(Arc<Shared>);

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock")
            .field("now", &self.coarse())
            .finish_non_exhaustive()
    }
}

impl Clock {
    /// The coarse clock: nanoseconds since the pacer started, as of its last tick (never ahead
    /// of the real time; one period behind while hot, up to `COLD` behind while cold).
    #[inline]
    pub fn coarse(&self) -> u64 {
        self.0.now.load(Ordering::Relaxed)
    }

    /// The precise time, in the same nanoseconds.
    #[inline]
    pub fn precise(&self) -> u64 {
        u64::try_from(self.0.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The instant `nanos` stands for.
    pub fn instant(&self, nanos: u64) -> Instant {
        self.0.start + Duration::from_nanos(nanos)
    }

    /// The instant the clock counts from.
    pub fn origin(&self) -> Instant {
        self.0.start
    }

    /// Whether the coarse clock has reached `deadline` (never true early).
    #[inline]
    pub fn passed(&self, deadline: u64) -> bool {
        self.coarse() >= deadline
    }

    /// Marks a guest with a deadline as running, so that the pacer stays hot (backends call it
    /// where the guest checks in, e.g. Wasmtime's epoch callback). A plain load, and a store
    /// only when it was cold-bound.
    #[inline]
    pub fn heat(&self) {
        if !self.0.hot.load(Ordering::Relaxed) {
            self.0.hot.store(true, Ordering::Relaxed);
        }
    }
}

/// One pacer thread; dropping it stops the thread.
pub struct Pacer {
    clock: Clock,
    thread: Option<JoinHandle<()>>,
    /// The thread's share of the process budget.
    _budget: crate::budget::Reservation,
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer")
            .field("period", &self.clock.0.period)
            .finish_non_exhaustive()
    }
}

impl Pacer {
    /// Starts a pacer ticking every `period` while hot. `tick(clock, now)` runs on the pacer's
    /// thread at every tick, after the coarse clock was set to `now`; it returns whether a
    /// call is armed (which keeps the pacer hot). The thread is charged to the process budget.
    ///
    /// # Errors
    /// `rejected: limit_exceeded` when the process budget has no thread left; a host failure
    /// (`thread`) when the thread cannot be started.
    pub fn start(
        name: &str,
        period: Duration,
        tick: impl FnMut(&Clock, u64) -> bool + Send + 'static,
    ) -> Result<Self, crate::Error> {
        let budget = crate::budget::reserve(crate::budget::Cost::threads(1))?;
        let clock = Clock(Arc::new(Shared {
            hot: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            period,
            start: Instant::now(),
            now: AtomicU64::new(0),
        }));
        let c = clock.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(&c, tick))
            .map_err(|e| {
                crate::Error::host_from(
                    crate::HostFailure::Thread,
                    format!("cannot start the deadline thread: {e}"),
                    e,
                )
            })?;
        Ok(Pacer {
            clock,
            thread: Some(thread),
            _budget: budget,
        })
    }

    /// The pacer's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Arms a call that starts now with `timeout`: returns its deadline in the clock's
    /// nanoseconds (the precise time now plus the timeout), and heats the pacer, waking it if
    /// it was cold.
    #[inline]
    pub fn arm(&self, timeout: Duration) -> u64 {
        let s = &self.clock.0;
        if !s.hot.load(Ordering::Relaxed) {
            s.hot.store(true, Ordering::Relaxed);
            if let Some(t) = &self.thread {
                t.thread().unpark();
            }
        }
        let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        self.clock.precise().saturating_add(nanos)
    }
}

fn run(clock: &Clock, mut tick: impl FnMut(&Clock, u64) -> bool) {
    let s = &clock.0;
    let mut last_hot = Instant::now();
    loop {
        if s.stop.load(Ordering::Acquire) {
            return;
        }
        let now = clock.precise();
        s.now.store(now, Ordering::Relaxed);
        let armed = tick(clock, now);
        // Swap the flag out: a running guest, or the next call, sets it again.
        if s.hot.swap(false, Ordering::Relaxed) || armed {
            last_hot = Instant::now();
        }
        if last_hot.elapsed() < LINGER {
            std::thread::sleep(s.period);
        } else {
            std::thread::park_timeout(COLD);
        }
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.clock.0.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// The message of a call ended at its deadline by the async path's race.
#[cfg(feature = "async")]
const TIMED_OUT: &str = "the deadline passed: the call was ended while suspended";

/// Awaits a call running natively on the executor (a backend's
/// [`crate::backend::AsyncCall`]: its `deadline` and `future`), racing it with its deadline:
/// once the deadline has passed, the call ends `trapped: timeout` (as on the sync path) and
/// its future is dropped (Wasmtime unwinds the guest's fiber and drops the host future it
/// awaited), **without waiting for the guest to be resumed**: the deadline is checked before
/// every resume, and a timer of Cage's own (`timer`) wakes the task when it comes, so a guest
/// queued behind many others on a busy executor is not resumed past it. Never early: the
/// deadline is judged on the precise clock. Calls past their deadlines go first (see
/// `timer::Turns`).
///
/// # Errors
/// The call's error; `trapped: timeout`; a host failure when the timer cannot start.
#[cfg(feature = "async")]
pub(crate) async fn deadlined(
    deadline: Option<Instant>,
    future: std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<(), crate::Error>> + Send + '_>,
    >,
) -> Result<(), crate::Error> {
    use std::task::Poll;
    let timed_out = || crate::Error::trap(crate::Trap::Timeout, TIMED_OUT);
    let Some(at) = deadline else {
        return future.await;
    };
    let mut future = Some(future);
    let mut alarm = timer::Alarm::new(at);
    let mut turns = timer::Turns::new();
    std::future::poll_fn(move |cx| {
        let Some(running) = future.as_mut() else {
            return Poll::Ready(Err(timed_out()));
        };
        // Checked before each resume: a guest past its deadline is not resumed.
        if Instant::now() >= at {
            future = None;
            return Poll::Ready(Err(timed_out()));
        }
        // Calls past their deadlines go first: this one passes its turn, so that the
        // executor reaches them after a round of cheap polls.
        if turns.pass() {
            cx.waker().wake_by_ref();
            return match alarm.arm(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            };
        }
        if let Poll::Ready(r) = running.as_mut().poll(cx) {
            return Poll::Ready(r);
        }
        match alarm.arm(cx) {
            Ok(()) => Poll::Pending,
            Err(e) => {
                future = None;
                Poll::Ready(Err(e))
            }
        }
    })
    .await
}

/// Passes the task's turn while calls past their deadlines wait to be ended (see
/// `timer::Turns`): native async sandboxes are made and instantiated after them.
#[cfg(feature = "async")]
pub(crate) async fn give_way() {
    let mut turns = timer::Turns::new();
    std::future::poll_fn(|cx| {
        if turns.pass() {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD: Duration = Duration::from_micros(500);

    #[test]
    fn a_deadline_counts_from_when_the_call_starts() {
        let p = Pacer::start("test-pacer", PERIOD, |_, _| false).unwrap();
        let before = p.clock().precise();
        let deadline = p.arm(Duration::from_millis(50));
        let after = p.clock().precise();
        assert!(deadline >= before + 50_000_000 && deadline <= after + 50_000_000);
        assert!(!p.clock().passed(deadline));
        std::thread::sleep(Duration::from_millis(60));
        assert!(p.clock().passed(deadline), "hot: the coarse clock keeps up");
    }

    #[test]
    fn the_coarse_clock_is_never_ahead_and_catches_up_when_armed() {
        let p = Pacer::start("test-pacer", PERIOD, |_, _| false).unwrap();
        std::thread::sleep(LINGER + Duration::from_millis(50));
        for _ in 0..100 {
            assert!(p.clock().coarse() <= p.clock().precise());
        }
        let deadline = p.arm(Duration::from_millis(5));
        std::thread::sleep(Duration::from_millis(5 + 3));
        assert!(
            p.clock().passed(deadline),
            "arming wakes a cold pacer: {} < {deadline}",
            p.clock().coarse()
        );
    }

    #[test]
    fn the_tick_sees_the_clock_it_was_given() {
        let (tx, rx) = std::sync::mpsc::channel();
        let p = Pacer::start("test-pacer", PERIOD, move |c, now| {
            let _ = tx.send((c.coarse(), now));
            false
        })
        .unwrap();
        p.arm(Duration::from_secs(1));
        let (coarse, now) = rx.recv().unwrap();
        assert_eq!(coarse, now);
    }
}
