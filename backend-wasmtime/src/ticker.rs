//! Deadlines on Wasmtime: core's pacer ([`cage_core::backend::Pacer`]) increments the engine's
//! epoch at every tick, and each store's epoch callback compares the pacer's coarse clock with
//! the call's deadline, fixed when the call started.
//!
//! Arming a call sets the store's deadline and asks for a callback at the next tick
//! (`set_epoch_deadline(1)`); every callback either interrupts the guest (the deadline has
//! passed on the coarse clock, so never early) or asks for the next tick and keeps the pacer
//! hot. A call is stopped about one period after its deadline on an idle machine.

use cage_core::backend::{Clock, Pacer, deadline_period};
use std::time::Duration;
use wasmtime::Engine;

/// Starts the pacer of `engine`, for calls with `timeout`.
pub(crate) fn pacer(engine: &Engine, timeout: Duration) -> Result<Pacer, cage_core::Error> {
    let engine = engine.weak();
    Pacer::start("cage-epoch", deadline_period(timeout), move |_, _| {
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
    /// The current call's deadline, in the pacer clock's nanoseconds.
    pub(crate) at: u64,
    /// The pacer's clock.
    pub(crate) clock: Option<Clock>,
}

impl Deadline {
    /// The epoch callback's decision at a tick: trap once the deadline has passed, else wait
    /// for the next tick.
    pub(crate) fn tick(&mut self) -> wasmtime::UpdateDeadline {
        match &self.clock {
            Some(c) if c.passed(self.at) => wasmtime::UpdateDeadline::Interrupt,
            Some(c) => {
                c.heat();
                wasmtime::UpdateDeadline::Continue(1)
            }
            None => wasmtime::UpdateDeadline::Continue(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_waits_for_the_deadline_fixed_when_the_call_started() {
        let engine = Engine::default();
        let p = pacer(&engine, Duration::from_millis(50)).unwrap();
        let mut d = Deadline {
            at: p.arm(Duration::from_millis(20)),
            clock: Some(p.clock().clone()),
        };
        assert!(matches!(d.tick(), wasmtime::UpdateDeadline::Continue(1)));
        std::thread::sleep(Duration::from_millis(25));
        assert!(matches!(d.tick(), wasmtime::UpdateDeadline::Interrupt));
    }
}
