//! Deadlines for async calls that run natively on the executor, without an executor's timer:
//! one thread for the process wakes each call's task when its deadline comes, whatever
//! executor polls it (tokio, async-std, smol, a hand-written one). Cage must not require
//! tokio in the library, and no timer crate is in its dependency set.
//!
//! The thread sleeps on a condition variable until the earliest deadline registered, wakes the
//! tasks whose deadlines have come, and sleeps again; it is started by the first async call
//! with a deadline and lives as long as the process, charged once to the process budget (one
//! thread). A [`Alarm`] registers its task's waker once (again only if the task's waker
//! changes) and deregisters when dropped, so polling a call costs no lock in the common case.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::task::{Context, Waker};
use std::time::Instant;

use crate::error::Error;
use crate::outcome::HostFailure;

/// How many times the timer has found calls past their deadlines (one per batch woken).
static FIRINGS: AtomicU64 = AtomicU64::new(0);
/// Calls whose alarm has fired and that have not ended yet.
static OVERDUE: AtomicU64 = AtomicU64::new(0);
/// When the timer last found calls past their deadlines, in nanoseconds since [`origin`].
static LAST_FIRING: AtomicU64 = AtomicU64::new(u64::MAX);
/// For this long after a firing, calls that start pass their first turn: more calls are
/// likely to be overdue, queued behind the guests about to start.
const RECENT: u64 = 50_000_000;
/// For this long after a firing, waiting calls keep passing their turns while overdue calls
/// wait to be ended: a bound on the cheap polls spent on an overdue call that its application
/// does not poll (they cost CPU, and the executor's other work waits for them).
const EAGER: u64 = 10_000_000;

/// The instant [`LAST_FIRING`] counts from.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn nanos_since_origin() -> u64 {
    u64::try_from(origin().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Whether the timer found calls past their deadlines in the last `window` nanoseconds.
fn fired_within(window: u64) -> bool {
    let last = LAST_FIRING.load(Ordering::Acquire);
    last != u64::MAX && nanos_since_origin().saturating_sub(last) < window
}

/// Calls past their deadlines are ended first. When the timer finds calls past their
/// deadlines, the calls waiting to run pass their turn (a cheap poll: the guest is not
/// resumed): once per firing, and while overdue calls are still waiting to be ended, for at
/// most [`EAGER`] after the firing. So an overdue call is reached after a round of cheap polls
/// of the executor's queue, not behind a time slice of every guest in front of it, whatever
/// the executor's queueing; and no call waits more than [`EAGER`] for an overdue call that
/// its application never polls. The accounting is the process's (Cage cannot tell executors
/// apart): an overdue call of one executor makes the calls of another pass too, within those
/// bounds. `Turns` remembers the firings a call has seen.
pub(crate) struct Turns(u64);

impl Turns {
    /// A call starting now: it passes its first turn if calls are overdue right now, or were
    /// found overdue in the last [`RECENT`] nanoseconds.
    pub(crate) fn new() -> Self {
        let firings = FIRINGS.load(Ordering::Acquire);
        let overdue = fired_within(RECENT) || OVERDUE.load(Ordering::Acquire) > 0;
        Turns(firings.wrapping_sub(u64::from(overdue)))
    }

    /// Whether the call should pass this turn.
    pub(crate) fn pass(&mut self) -> bool {
        let firings = FIRINGS.load(Ordering::Acquire);
        if firings != self.0 {
            self.0 = firings;
            return true;
        }
        OVERDUE.load(Ordering::Acquire) > 0 && fired_within(EAGER)
    }
}

/// The timer thread's shared state.
struct Timer {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    /// Deadlines by time; an entry whose id is no longer in `wakers` was dropped.
    due: BinaryHeap<Reverse<(Instant, u64)>>,
    wakers: HashMap<u64, Waker>,
    next_id: u64,
}

/// The process's timer, started at its first use.
///
/// # Errors
/// `rejected: limit_exceeded` when the process budget has no thread left, a host failure
/// (`thread`) when the thread cannot start: the caller's call fails closed.
fn timer() -> Result<&'static Timer, Error> {
    static TIMER: OnceLock<Result<&'static Timer, String>> = OnceLock::new();
    let started = TIMER.get_or_init(|| {
        let budget =
            crate::budget::reserve(crate::budget::Cost::threads(1)).map_err(|e| e.to_string())?;
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("cage-async-deadlines".into())
            .spawn(move || {
                let _budget = budget;
                run(timer);
            })
            .map_err(|e| format!("cannot start the async deadline thread: {e}"))?;
        Ok(timer)
    });
    match started {
        Ok(t) => Ok(t),
        Err(m) => Err(Error::host(HostFailure::Thread, m.clone())),
    }
}

fn run(timer: &Timer) {
    let mut state = timer.state.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let now = Instant::now();
        let mut woken = Vec::new();
        while let Some(Reverse((at, id))) = state.due.peek().copied() {
            if at > now {
                break;
            }
            state.due.pop();
            if let Some(w) = state.wakers.remove(&id) {
                woken.push(w);
            }
        }
        let next = state.due.peek().map(|Reverse((at, _))| *at);
        if !woken.is_empty() {
            OVERDUE.fetch_add(woken.len() as u64, Ordering::AcqRel);
            LAST_FIRING.store(nanos_since_origin(), Ordering::Release);
            FIRINGS.fetch_add(1, Ordering::AcqRel);
        }
        drop(state);
        for w in woken {
            w.wake();
        }
        state = timer.state.lock().unwrap_or_else(PoisonError::into_inner);
        // Something registered meanwhile is looked at before sleeping.
        if state.due.peek().map(|Reverse((at, _))| *at) != next {
            continue;
        }
        state = match next {
            Some(at) => {
                let wait = at.saturating_duration_since(Instant::now());
                timer
                    .wake
                    .wait_timeout(state, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => timer
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner),
        };
    }
}

/// Wakes the task polling it once `at` has come.
pub(crate) struct Alarm {
    at: Instant,
    /// Its registration and the waker registered.
    registered: Option<(u64, Waker)>,
}

impl Alarm {
    /// An alarm for `at`, not registered yet.
    pub(crate) fn new(at: Instant) -> Self {
        Alarm {
            at,
            registered: None,
        }
    }

    /// Makes sure the task polling with `cx` is woken at the alarm's time.
    ///
    /// # Errors
    /// The timer cannot start (see [`timer`]).
    pub(crate) fn arm(&mut self, cx: &Context<'_>) -> Result<(), Error> {
        if let Some((_, w)) = &self.registered
            && w.will_wake(cx.waker())
        {
            return Ok(());
        }
        let timer = timer()?;
        let mut state = timer.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut self.registered {
            Some((id, w)) => {
                *w = cx.waker().clone();
                match state.wakers.get_mut(id) {
                    Some(registered) => *registered = cx.waker().clone(),
                    // Already fired (the deadline has come): the new waker is woken at once.
                    None => cx.waker().wake_by_ref(),
                }
            }
            None => {
                let id = state.next_id;
                state.next_id += 1;
                // Entries of dropped alarms wait for their time in the heap: pruned once they
                // are most of it, so that a busy server's heap stays the size of its calls.
                if state.due.len() > 1024 && state.due.len() > 4 * state.wakers.len() {
                    let State { due, wakers, .. } = &mut *state;
                    due.retain(|Reverse((_, id))| wakers.contains_key(id));
                }
                let earliest = state.due.peek().is_none_or(|Reverse((t, _))| self.at < *t);
                state.due.push(Reverse((self.at, id)));
                state.wakers.insert(id, cx.waker().clone());
                self.registered = Some((id, cx.waker().clone()));
                if earliest {
                    timer.wake.notify_one();
                }
            }
        }
        Ok(())
    }
}

impl Drop for Alarm {
    fn drop(&mut self) {
        if let Some((id, _)) = self.registered.take()
            && let Ok(timer) = timer()
        {
            let waiting = timer
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .wakers
                .remove(&id);
            // Fired (the timer took its waker): the call was overdue, and has ended.
            if waiting.is_none() {
                OVERDUE.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}
