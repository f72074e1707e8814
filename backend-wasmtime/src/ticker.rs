//! One epoch ticker per engine: a thread that increments the engine's epoch while any call
//! with a deadline is running, and sleeps otherwise. Each store sets its own deadline relative to
//! the current epoch, so one sandbox's deadline never interrupts another.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::Engine;

struct Shared {
    active: AtomicUsize,
    stop: AtomicBool,
}

/// The ticker thread of one engine; dropping it stops the thread.
pub(crate) struct Ticker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    tick: Duration,
}

/// Held while a call with a deadline runs: keeps the ticker ticking.
pub(crate) struct Active(Weak<Shared>);

impl Drop for Active {
    fn drop(&mut self) {
        if let Some(s) = self.0.upgrade() {
            s.active.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Ticker {
    /// Starts a ticker for `engine` whose period suits deadlines of `timeout`: a fiftieth of it,
    /// between 1 ms and 10 ms.
    pub(crate) fn start(engine: &Engine, timeout: Duration) -> std::io::Result<Self> {
        let tick = (timeout / 50).clamp(Duration::from_millis(1), Duration::from_millis(10));
        let shared = Arc::new(Shared {
            active: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let engine = engine.weak();
        let thread = std::thread::Builder::new()
            .name("cage-epoch".into())
            .spawn(move || {
                while !s.stop.load(Ordering::Acquire) {
                    if s.active.load(Ordering::Acquire) == 0 {
                        std::thread::park_timeout(Duration::from_millis(100));
                        continue;
                    }
                    std::thread::sleep(tick);
                    match engine.upgrade() {
                        Some(e) => e.increment_epoch(),
                        None => return,
                    }
                }
            })?;
        Ok(Ticker {
            shared,
            thread: Some(thread),
            tick,
        })
    }

    /// The number of ticks a deadline of `timeout` lasts: rounded up, plus one because the
    /// current epoch may be about to end. A guest therefore stops between `timeout` and
    /// `timeout + tick` after the call starts (plus the time to reach a check).
    pub(crate) fn ticks(&self, timeout: Duration) -> u64 {
        let t = self.tick.as_nanos().max(1);
        u64::try_from(timeout.as_nanos().div_ceil(t))
            .unwrap_or(u64::MAX / 2)
            .saturating_add(1)
    }

    /// Marks a call with a deadline as running until the returned guard is dropped.
    pub(crate) fn activate(&self) -> Active {
        self.shared.active.fetch_add(1, Ordering::AcqRel);
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
        Active(Arc::downgrade(&self.shared))
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
