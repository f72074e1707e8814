//! The object-safe face of the lifecycle: [`DynRuntime`], [`DynModule`], [`DynSandbox`], for
//! code that picks a runtime by name at run time.

use std::sync::Arc;

use crate::backend::{Backend, Store};
use crate::cache::{CacheStats, DiskCache};
use crate::error::Error;
use crate::host::HostFunctions;
use crate::module::{CheckedModule, ModuleInfo};
use crate::names::RuntimeName;
use crate::policy::Policy;
use crate::provider::ImportProvider;
use crate::records::{Capabilities, ExportedState, Output, Stats};
use crate::state::Extensions;
use crate::value::Value;

use super::{Module, Runtime, Sandbox};
/// The object-safe face of a [`Runtime`], for code that picks runtimes by name at run time.
pub trait DynRuntime: Send + Sync {
    /// See [`Runtime::name`].
    fn name(&self) -> RuntimeName;
    /// See [`Runtime::capabilities`].
    fn capabilities(&self) -> &Capabilities;
    /// See [`Runtime::policy`].
    fn policy(&self) -> &Policy;
    /// See [`Runtime::compile_checked`].
    ///
    /// # Errors
    /// As [`Runtime::compile_checked`].
    fn compile_dyn(
        &self,
        module: &CheckedModule,
        host: &HostFunctions,
    ) -> Result<Box<dyn DynModule>, Error>;
    /// See [`Runtime::check`].
    ///
    /// # Errors
    /// As [`Runtime::check`].
    fn check(&self, bytes: &[u8]) -> Result<CheckedModule, Error>;
    /// Checks `bytes` and compiles them with `host` (and the runtime's import providers): see
    /// [`Runtime::compile`].
    ///
    /// # Errors
    /// As [`Runtime::compile`].
    fn compile(&self, bytes: &[u8], host: &HostFunctions) -> Result<Box<dyn DynModule>, Error> {
        let checked = self.check(bytes)?;
        self.compile_dyn(&checked, host)
    }
    /// See [`Runtime::set_disk_cache`].
    fn set_disk_cache(&self, cache: Option<DiskCache>);
    /// See [`Runtime::set_memory_cache_capacity`].
    fn set_memory_cache_capacity(&self, entries: usize);
    /// See [`Runtime::cache_stats`].
    fn cache_stats(&self) -> CacheStats;
    /// See [`Runtime::add_provider`].
    fn add_provider(&self, provider: Arc<dyn ImportProvider>);
    /// See [`Runtime::providers`].
    fn providers(&self) -> Vec<Arc<dyn ImportProvider>>;
}

/// A compiled module behind a [`DynRuntime`].
pub trait DynModule: Send + Sync {
    /// See [`Module::sandbox`].
    ///
    /// # Errors
    /// As [`Module::sandbox`].
    fn sandbox(&self) -> Result<Box<dyn DynSandbox>, Error>;
    /// See [`Module::instantiate`]: a new sandbox, instantiated.
    ///
    /// # Errors
    /// As [`Module::instantiate`].
    fn instantiate(&self) -> Result<Box<dyn DynSandbox>, Error> {
        let mut sandbox = self.sandbox()?;
        sandbox.instantiate()?;
        Ok(sandbox)
    }
    /// See [`Module::info`].
    fn info(&self) -> &ModuleInfo;
    /// The name of the runtime that compiled it.
    fn runtime_name(&self) -> RuntimeName;
    /// The policy of the runtime that compiled it.
    fn policy(&self) -> &Policy;
    /// Another handle on the same compiled module (cheap: shared).
    fn clone_box(&self) -> Box<dyn DynModule>;
    /// A new sandbox whose calls run natively on the application's executor, on a runtime
    /// with [`Capabilities::native_async`]; `None` on other runtimes. For
    /// [`crate::async_api::AsyncSandbox`] and [`crate::async_api::run_async`]; applications use those.
    ///
    /// # Errors
    /// As [`Module::sandbox`].
    #[cfg(feature = "async")]
    fn native_async_sandbox(&self) -> Option<Result<Box<dyn DynAsyncSandbox>, Error>> {
        None
    }
}

/// A sandbox whose instantiation and calls are `Send` futures polled by the application's
/// executor (feature `async`, runtimes with [`Capabilities::native_async`]): what
/// [`crate::async_api::AsyncSandbox`] holds on such runtimes. Its counters are the sync ones
/// ([`DynSandbox`]); its sync calls are not for use (the store may require async calls).
#[cfg(feature = "async")]
pub trait DynAsyncSandbox: DynSandbox + Send {
    /// See [`Sandbox::instantiate`], awaited.
    fn instantiate_async(&mut self) -> crate::backend::BoxFuture<'_, Result<(), Error>>;
    /// See [`Sandbox::call`], awaited.
    fn call_async<'a>(
        &'a mut self,
        export: &'a str,
        args: &'a [Value],
    ) -> crate::backend::BoxFuture<'a, Result<Vec<Value>, Error>>;
}

#[cfg(feature = "async")]
impl<B: Backend> DynAsyncSandbox for Sandbox<B>
where
    B::Store: crate::backend::AsyncStore,
    <B::Store as Store>::Func: Send + Sync,
{
    fn instantiate_async(&mut self) -> crate::backend::BoxFuture<'_, Result<(), Error>> {
        Box::pin(Sandbox::instantiate_async(self))
    }
    fn call_async<'a>(
        &'a mut self,
        export: &'a str,
        args: &'a [Value],
    ) -> crate::backend::BoxFuture<'a, Result<Vec<Value>, Error>> {
        Box::pin(Sandbox::call_async(self, export, args))
    }
}

/// A sandbox behind a [`DynModule`].
pub trait DynSandbox {
    /// See [`Sandbox::instantiate`].
    ///
    /// # Errors
    /// As [`Sandbox::instantiate`].
    fn instantiate(&mut self) -> Result<(), Error>;
    /// See [`Sandbox::call`].
    ///
    /// # Errors
    /// As [`Sandbox::call`].
    fn call(&mut self, export: &str, args: &[Value]) -> Result<Vec<Value>, Error>;
    /// See [`Sandbox::stats`].
    fn stats(&mut self) -> Stats;
    /// See [`Sandbox::exported_state`].
    fn exported_state(&mut self) -> ExportedState;
    /// See [`Sandbox::take_output`].
    fn take_output(&mut self) -> Output;
    /// The sandbox's host state (typed extensions), for per-sandbox data.
    fn extensions(&mut self) -> &mut Extensions;
    /// See [`Sandbox::fuel_remaining`].
    fn fuel_remaining(&mut self) -> Option<u64>;
    /// See [`Sandbox::set_fuel`].
    ///
    /// # Errors
    /// As [`Sandbox::set_fuel`].
    fn set_fuel(&mut self, fuel: u64) -> Result<(), Error>;
    /// See [`Sandbox::add_fuel`].
    ///
    /// # Errors
    /// As [`Sandbox::add_fuel`].
    fn add_fuel(&mut self, fuel: u64) -> Result<(), Error>;
}

impl<B: Backend> DynRuntime for Runtime<B> {
    fn name(&self) -> RuntimeName {
        Runtime::name(self)
    }
    fn capabilities(&self) -> &Capabilities {
        Runtime::capabilities(self)
    }
    fn policy(&self) -> &Policy {
        Runtime::policy(self)
    }
    fn compile_dyn(
        &self,
        module: &CheckedModule,
        host: &HostFunctions,
    ) -> Result<Box<dyn DynModule>, Error> {
        Ok(Box::new(self.compile_checked(module, host)?))
    }
    fn check(&self, bytes: &[u8]) -> Result<CheckedModule, Error> {
        Runtime::check(self, bytes)
    }
    fn set_disk_cache(&self, cache: Option<DiskCache>) {
        Runtime::set_disk_cache(self, cache);
    }
    fn set_memory_cache_capacity(&self, entries: usize) {
        Runtime::set_memory_cache_capacity(self, entries);
    }
    fn cache_stats(&self) -> CacheStats {
        Runtime::cache_stats(self)
    }
    fn add_provider(&self, provider: Arc<dyn ImportProvider>) {
        Runtime::add_provider(self, provider);
    }
    fn providers(&self) -> Vec<Arc<dyn ImportProvider>> {
        Runtime::providers(self)
    }
}

impl<B: Backend> DynModule for Module<B> {
    fn sandbox(&self) -> Result<Box<dyn DynSandbox>, Error> {
        Ok(Box::new(Module::sandbox(self)?))
    }
    fn info(&self) -> &ModuleInfo {
        Module::info(self)
    }
    fn runtime_name(&self) -> RuntimeName {
        self.runtime().name()
    }
    fn policy(&self) -> &Policy {
        self.runtime().policy()
    }
    fn clone_box(&self) -> Box<dyn DynModule> {
        Box::new(self.clone())
    }
    #[cfg(feature = "async")]
    fn native_async_sandbox(&self) -> Option<Result<Box<dyn DynAsyncSandbox>, Error>> {
        Module::native_async_sandbox(self)
    }
}

impl<B: Backend> DynSandbox for Sandbox<B> {
    fn instantiate(&mut self) -> Result<(), Error> {
        Sandbox::instantiate(self)
    }
    fn call(&mut self, export: &str, args: &[Value]) -> Result<Vec<Value>, Error> {
        Sandbox::call(self, export, args)
    }
    fn stats(&mut self) -> Stats {
        Sandbox::stats(self)
    }
    fn exported_state(&mut self) -> ExportedState {
        Sandbox::exported_state(self)
    }
    fn take_output(&mut self) -> Output {
        Sandbox::take_output(self)
    }
    fn extensions(&mut self) -> &mut Extensions {
        &mut self.store.host_state().extensions
    }
    fn fuel_remaining(&mut self) -> Option<u64> {
        Sandbox::fuel_remaining(self)
    }
    fn set_fuel(&mut self, fuel: u64) -> Result<(), Error> {
        Sandbox::set_fuel(self, fuel)
    }
    fn add_fuel(&mut self, fuel: u64) -> Result<(), Error> {
        Sandbox::add_fuel(self, fuel)
    }
}
