//! Deadlines on Wasmtime: core's pacer ([`cage_core::backend::Pacer`]) increments the engine's
//! epoch at every tick, and each store's epoch callback compares the pacer's coarse clock with
//! the call's deadline, fixed when the call started.
//!
//! Arming a call sets the store's deadline and asks for a callback at the next tick
//! (`set_epoch_deadline(1)`); every callback either interrupts the guest (the deadline has
//! passed on the coarse clock, so never early) or asks for the next tick and keeps the pacer
//! hot. A call is stopped about one period after its deadline on an idle machine.
//!
//! With Cage's `async` feature the same ticks make async calls yield: during an async call
//! (`Deadline::yield_every`), the callback answers `UpdateDeadline::Yield` once
//! `limits.yield_interval` has passed since the last yield, so the guest's fiber gives its
//! executor thread back and resumes when polled again. The pacer then runs even without a
//! `timeout`, ticking at least every `yield_interval` (see [`period`]).

use cage_core::backend::{Clock, Pacer, deadline_period};
use std::time::Duration;
use wasmtime::Engine;

/// The pacer's period for `policy`: [`deadline_period`] of its `timeout`; with the `async`
/// feature, at most its `yield_interval` (so that async calls yield on time). `None`: no
/// timeout, no pacer (and no deadline checks compiled in: nothing to yield at).
pub(crate) fn period(policy: &cage_core::Policy) -> Option<Duration> {
    let deadlines = policy.limits.timeout.map(deadline_period);
    #[cfg(feature = "async")]
    {
        let yields = policy.limits.yield_interval.max(Duration::from_micros(500));
        deadlines.map(|d| d.min(yields))
    }
    #[cfg(not(feature = "async"))]
    deadlines
}

/// Starts the pacer of `engine`, ticking every `period`.
pub(crate) fn pacer(engine: &Engine, period: Duration) -> Result<Pacer, cage_core::Error> {
    let engine = engine.weak();
    Pacer::start("cage-epoch", period, move |_, _| {
        if let Some(e) = engine.upgrade() {
            e.increment_epoch();
        }
        // Running guests say so through their callbacks (`Clock::heat`).
        false
    })
}

/// A store's view of its current call's deadline, judged by the epoch callback.
#[derive(Default)]
pub(crate) struct Deadline {
    /// The current call's deadline, in the pacer clock's nanoseconds (`u64::MAX`: none).
    pub(crate) at: u64,
    /// The pacer's clock.
    pub(crate) clock: Option<Clock>,
    /// During an async call: `limits.yield_interval`, in nanoseconds.
    pub(crate) yield_every: Option<u64>,
    /// During an async call: when the guest yields next, on the coarse clock.
    pub(crate) next_yield: u64,
}

impl Deadline {
    /// The epoch callback's decision at a tick: trap once the deadline has passed; during an
    /// async call, yield once the yield interval has passed; else wait for the next tick.
    pub(crate) fn tick(&mut self) -> wasmtime::UpdateDeadline {
        let Some(c) = &self.clock else {
            return wasmtime::UpdateDeadline::Continue(1);
        };
        if c.passed(self.at) {
            return wasmtime::UpdateDeadline::Interrupt;
        }
        if self.at != u64::MAX || self.yield_every.is_some() {
            c.heat();
        }
        #[cfg(feature = "async")]
        if let Some(every) = self.yield_every {
            let now = c.coarse();
            if now >= self.next_yield {
                self.next_yield = now.saturating_add(every);
                return wasmtime::UpdateDeadline::Yield(1);
            }
        }
        wasmtime::UpdateDeadline::Continue(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_waits_for_the_deadline_fixed_when_the_call_started() {
        let engine = Engine::default();
        let p = pacer(&engine, deadline_period(Duration::from_millis(50))).unwrap();
        let mut d = Deadline {
            at: p.arm(Duration::from_millis(20)),
            clock: Some(p.clock().clone()),
            ..Deadline::default()
        };
        assert!(matches!(d.tick(), wasmtime::UpdateDeadline::Continue(1)));
        std::thread::sleep(Duration::from_millis(25));
        assert!(matches!(d.tick(), wasmtime::UpdateDeadline::Interrupt));
    }
}
