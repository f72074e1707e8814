//! The deadline watchdog: one thread per runtime. A call registers its deadline and a way to
//! interrupt it; past the deadline the watchdog interrupts it, and keeps interrupting every
//! millisecond until the call has returned, because an interrupt can be missed (Wasmer's docs
//! say so: a signal that lands outside Wasm code is not acted on).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often an interrupt is repeated until the call returns.
const RETRY: Duration = Duration::from_millis(1);

type Interrupt = Box<dyn Fn() + Send + Sync>;

struct Entry {
    deadline: Instant,
    interrupt: Interrupt,
    fired: Arc<AtomicBool>,
}

#[derive(Default)]
struct State {
    next: u64,
    calls: BTreeMap<u64, Entry>,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update is a single insert
        // or remove.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The watchdog thread; dropping it stops the thread.
pub(crate) struct Watchdog {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A call under a deadline; dropping it (when the call returns) disarms the deadline.
pub(crate) struct Armed {
    shared: Arc<Shared>,
    id: u64,
    fired: Arc<AtomicBool>,
}

impl Armed {
    /// Whether the watchdog interrupted this call.
    pub(crate) fn fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        self.shared.lock().calls.remove(&self.id);
    }
}

impl Watchdog {
    pub(crate) fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
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

    /// Arms a deadline `timeout` from now for a call that `interrupt` can stop.
    pub(crate) fn arm(&self, timeout: Duration, interrupt: Interrupt) -> Armed {
        let fired = Arc::new(AtomicBool::new(false));
        let mut st = self.shared.lock();
        let id = st.next;
        st.next += 1;
        let deadline = Instant::now() + timeout;
        st.calls.insert(
            id,
            Entry {
                deadline,
                interrupt,
                fired: fired.clone(),
            },
        );
        drop(st);
        self.shared.wake.notify_one();
        Armed {
            shared: self.shared.clone(),
            id,
            fired,
        }
    }
}

fn run(shared: &Shared) {
    let mut st = shared.lock();
    loop {
        if st.stop {
            return;
        }
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        for e in st.calls.values() {
            if e.deadline <= now {
                e.fired.store(true, Ordering::Release);
                (e.interrupt)();
                next = Some(next.map_or(now + RETRY, |n| n.min(now + RETRY)));
            } else {
                next = Some(next.map_or(e.deadline, |n| n.min(e.deadline)));
            }
        }
        st = match next {
            None => shared.wake.wait(st).unwrap_or_else(PoisonError::into_inner),
            Some(t) => {
                let wait = t.saturating_duration_since(Instant::now());
                shared
                    .wake
                    .wait_timeout(st, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn fires_after_the_deadline_and_repeats_until_disarmed() {
        let w = Watchdog::start().unwrap();
        let hits = Arc::new(AtomicU32::new(0));
        let h = hits.clone();
        let start = Instant::now();
        let armed = w.arm(
            Duration::from_millis(30),
            Box::new(move || {
                h.fetch_add(1, Ordering::SeqCst);
            }),
        );
        while hits.load(Ordering::SeqCst) < 3 {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(armed.fired());
        drop(armed);
        let n = hits.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        assert!(hits.load(Ordering::SeqCst) <= n + 1, "stops once disarmed");
    }

    #[test]
    fn an_early_return_never_fires() {
        let w = Watchdog::start().unwrap();
        let hits = Arc::new(AtomicU32::new(0));
        let h = hits.clone();
        let armed = w.arm(
            Duration::from_millis(50),
            Box::new(move || {
                h.fetch_add(1, Ordering::SeqCst);
            }),
        );
        drop(armed);
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    }
}
