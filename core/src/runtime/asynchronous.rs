//! The sandbox's async twin (feature `async`): instantiation and calls awaited on the
//! application's executor, for backends with native async ([`AsyncStore`]).
//!
//! Every step is the sync path's own code ([`Sandbox::call`], [`Sandbox::instantiate`]):
//! the same export resolution and argument checks (`prepare_call`), the same fuel account
//! (`refuel_for_call`), the same lifecycle checks and panic containment (`enter`, `settle`),
//! the same instantiation outcome (`instantiated`), the same span and metrics (`observe`,
//! `observed_end`). Only the store's call is awaited, raced against the call's deadline
//! (`crate::deadline::deadlined`), so that a guest whose deadline has passed ends
//! `trapped: timeout` without waiting to be resumed.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use tracing::Instrument;

use crate::backend::{AsyncStore, Backend, Store};
use crate::error::Error;
use crate::value::Value;

use super::Sandbox;
use super::sandbox::{FuncOf, Lifecycle, missing_start};

impl<B: Backend> Sandbox<B>
where
    B::Store: AsyncStore,
    FuncOf<B>: Send + Sync,
{
    /// [`Sandbox::instantiate`], awaited: segments, then the start function under the fuel
    /// budget and deadline, on the executor.
    ///
    /// # Errors
    /// As [`Sandbox::instantiate`].
    pub(crate) async fn instantiate_async(&mut self) -> Result<(), Error> {
        if self.state == Lifecycle::Instantiated {
            return Ok(());
        }
        let observation = self.observe("(instantiate)");
        let span = observation.span.clone();
        let result = async {
            let start = self.checked.start_export().map(str::to_owned);
            let result = match self.enter() {
                Err(e) => Err(e),
                Ok(()) => {
                    let store = &mut self.store;
                    let run = async move {
                        store.instantiate_async().await?;
                        if let Some(start) = &start {
                            let f = store.func(start).ok_or_else(missing_start)?;
                            let call = store.call_async(&f, &[], &mut []);
                            crate::deadline::deadlined(call.deadline, call.future).await?;
                        }
                        Ok(())
                    };
                    let result = AssertUnwindSafe(run).catch_unwind().await;
                    self.settle("instantiating", result)
                }
            };
            self.instantiated(result)
        }
        .instrument(span)
        .await;
        self.observed_end(observation, &result);
        result
    }

    /// [`Sandbox::call`], awaited on the executor.
    ///
    /// # Errors
    /// As [`Sandbox::call`].
    pub(crate) async fn call_async(
        &mut self,
        export: &str,
        args: &[Value],
    ) -> Result<Vec<Value>, Error> {
        let (func, name, mut results) = self.prepare_call(export, args)?;
        let observation = self.observe(&name);
        let span = observation.span.clone();
        let result = async {
            self.refuel_for_call()?;
            self.enter()?;
            let store = &mut self.store;
            let results = &mut results;
            let run = async move {
                let call = store.call_async(&func, args, results);
                crate::deadline::deadlined(call.deadline, call.future).await
            };
            let result = AssertUnwindSafe(run).catch_unwind().await;
            self.settle("calling", result)
        }
        .instrument(span)
        .await;
        self.observed_end(observation, &result);
        result.map(|()| results)
    }
}
