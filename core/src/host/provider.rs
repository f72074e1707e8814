//! Import providers: import sets a runtime offers besides the application's host functions, each
//! with per-sandbox state, built only on the public host-function API.
//!
//! WASI preview 1 (the `cage-wasi` crate) is one: its functions are [`crate::HostFunc`]s over a
//! per-sandbox context kept in the sandbox's [`Extensions`], exactly what an application's own
//! host functions can do. Core knows nothing of WASI; it asks each provider of a runtime, for
//! the imports of the module it names, for a host function ([`ImportProvider::function`]); makes
//! the provider's state when a sandbox of such a module is made
//! ([`ImportProvider::prepare_sandbox`]); and asks it for the output the guest wrote
//! ([`ImportProvider::take_output`]). A third party writes another (a `wasi:http`-like API, a
//! game's scripting API) the same way and adds it with [`crate::Runtime::add_provider`].
//!
//! ```
//! use std::sync::Arc;
//! use cage_core::provider::ImportProvider;
//! use cage_core::{Error, Extensions, FuncType, HostFunc, Policy, ValType, Value};
//!
//! /// `clock.ticks() -> i64`: how many times this sandbox asked.
//! #[derive(Debug)]
//! struct Ticks;
//!
//! impl ImportProvider for Ticks {
//!     fn module(&self) -> &str {
//!         "clock"
//!     }
//!     fn function(&self, name: &str, ty: &FuncType) -> Result<HostFunc, String> {
//!         let want = FuncType::new([], [ValType::I64]);
//!         if name != "ticks" || *ty != want {
//!             return Err(format!("clock.{name}: only `ticks: () -> i64` is provided"));
//!         }
//!         Ok(HostFunc::new("clock", "ticks", want, |cx, _| {
//!             let n = cx.state().extensions.get_mut::<u64>().ok_or("no state")?;
//!             *n += 1;
//!             Ok(vec![Value::I64(*n as i64)])
//!         }))
//!     }
//!     fn prepare_sandbox(&self, _: &Policy, ext: &mut Extensions) -> Result<(), Error> {
//!         ext.insert(0u64);
//!         Ok(())
//!     }
//! }
//! let provider: Arc<dyn ImportProvider> = Arc::new(Ticks);
//! # let _ = provider;
//! ```

use std::fmt;

use crate::error::Error;
use crate::host::HostFunc;
use crate::module::FuncType;
use crate::policy::Policy;
use crate::records::Output;
use crate::state::Extensions;

/// An import set with per-sandbox state (see the module documentation).
pub trait ImportProvider: Send + Sync + fmt::Debug + 'static {
    /// The import module it provides, e.g. `wasi_snapshot_preview1`. A module's imports from it
    /// are resolved here, never against the application's host functions.
    fn module(&self) -> &str;

    /// The host function for the import `name` of type `ty`.
    ///
    /// # Errors
    /// Why it cannot be provided (no such function, another type): the module is then
    /// `rejected: unresolved_import` with this reason, before any runtime sees it.
    fn function(&self, name: &str, ty: &FuncType) -> Result<HostFunc, String>;

    /// Puts the state of a new sandbox, of a module that imports from this provider, into
    /// `extensions`, where its host functions find it. Called before the sandbox exists; no
    /// guest code runs.
    ///
    /// # Errors
    /// Whatever the state cannot be made without (fail closed: a sandbox never starts with less
    /// than its policy grants).
    fn prepare_sandbox(&self, policy: &Policy, extensions: &mut Extensions) -> Result<(), Error>;

    /// Takes what the guest wrote to outputs this provider captures (stdout and stderr), if it
    /// captures any; what [`crate::Sandbox::take_output`] and the report show.
    fn take_output(&self, extensions: &mut Extensions) -> Option<Output> {
        let _ = extensions;
        None
    }
}
