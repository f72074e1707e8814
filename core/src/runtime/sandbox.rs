//! The [`Sandbox`]: one store and one instance, its lifecycle (fresh → instantiated | failed |
//! poisoned), its calls (untyped, by handle, typed) and its fuel account.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crate::backend::{Backend, Store, TypedStore};
use crate::error::Error;
use crate::module::CheckedModule;
use crate::names::RuntimeName;
use crate::outcome::HostFailure;
use crate::records::{ExportedState, Output, Stats};
use crate::typed::{WasmParams, WasmResults};
use crate::value::{ValType, Value};

use super::{LiveSlot, Providers, invalid, runtime_panicked};
/// A backend's handle on an exported function.
pub(super) type FuncOf<B> = <<B as Backend>::Store as Store>::Func;

/// A handle on an exported function of one sandbox, untyped (see [`Sandbox::func`]).
pub struct Func<B: Backend> {
    name: Arc<str>,
    func: FuncOf<B>,
    params: Arc<[ValType]>,
    results: Arc<[ValType]>,
    sandbox: u64,
}

impl<B: Backend> Clone for Func<B> {
    fn clone(&self) -> Self {
        Func {
            name: self.name.clone(),
            func: self.func.clone(),
            params: self.params.clone(),
            results: self.results.clone(),
            sandbox: self.sandbox,
        }
    }
}

impl<B: Backend> std::fmt::Debug for Func<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Func")
            .field("name", &self.name)
            .field("params", &self.params)
            .field("results", &self.results)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> Func<B> {
    /// The export's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its parameter types.
    pub fn params(&self) -> &[ValType] {
        &self.params
    }

    /// Its result types.
    pub fn results(&self) -> &[ValType] {
        &self.results
    }
}

/// Where a sandbox is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lifecycle {
    /// Made, not instantiated.
    Fresh,
    /// Instantiated and its start function returned: calls are allowed.
    Instantiated,
    /// Instantiation or the start function failed: the sandbox never runs again.
    Failed,
    /// The runtime or a host function panicked.
    Poisoned,
}

/// One store with one instance of one module. Dropping it frees everything and its
/// live-sandbox slot.
///
/// Not `Send` on every backend (Wasmer's store must stay on its thread): make a sandbox on the
/// thread that uses it; the [`Module`](crate::Module) it comes from is `Send + Sync`.
pub struct Sandbox<B: Backend> {
    pub(super) store: B::Store,
    /// Unique in the process: typed handles remember the sandbox they belong to.
    pub(super) id: u64,
    pub(super) name: RuntimeName,
    pub(super) checked: CheckedModule,
    pub(super) state: Lifecycle,
    /// Exported functions looked up so far.
    pub(super) funcs: Vec<Func<B>>,
    /// The fuel account, with metering.
    pub(super) fuel: Option<FuelBook>,
    /// Returned to the process budget after the store (declared first) is dropped (with an
    /// async sandbox's stack, [`crate::backend::Backend::async_stack_cost`]).
    pub(super) _budget: crate::budget::Reservation,
    /// The code's share, held while the store may run it.
    pub(super) _code_budget: Arc<crate::budget::Reservation>,
    /// The import providers of its module.
    pub(super) providers: Providers,
    pub(super) _slot: LiveSlot,
}

/// A metered sandbox's fuel account: what was consumed before the last refuelling, and the fuel
/// it left the sandbox with.
#[derive(Clone, Copy, Debug)]
pub(super) struct FuelBook {
    /// `limits.fuel`.
    pub(super) budget: u64,
    /// Every call starts with `budget` (`limits.fuel_per_call`).
    pub(super) per_call: bool,
    /// Fuel left right after the last refuelling (initially `budget`).
    pub(super) base: u64,
    /// Consumed before the last refuelling.
    pub(super) spent: u64,
}

impl<B: Backend> std::fmt::Debug for Sandbox<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("runtime", &self.name)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> Sandbox<B> {
    /// Runs `f` on the store, containing panics: a runtime that panics poisons this sandbox,
    /// and so does a host function that panicked during `f`.
    fn guarded<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut B::Store) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.enter()?;
        let result = catch_unwind(AssertUnwindSafe(|| f(&mut self.store)));
        self.settle(what, result)
    }

    /// Whether the sandbox may run `f` in [`Sandbox::guarded`] (and its async twin): refused
    /// once failed or poisoned, or while the runtime cannot make this thread ready
    /// ([`Backend::prepare_thread`]).
    pub(super) fn enter(&self) -> Result<(), Error> {
        match self.state {
            Lifecycle::Poisoned => Err(invalid(
                "this sandbox was poisoned (the runtime or a host function panicked, or an \
                 async call's future was dropped while it waited on the host); make a new one",
            )),
            Lifecycle::Failed => Err(invalid(
                "instantiation failed in this sandbox; make a new one",
            )),
            Lifecycle::Fresh | Lifecycle::Instantiated => B::prepare_thread(),
        }
    }

    /// What [`Sandbox::guarded`] (and its async twin) answers for `result`: a panic of the
    /// runtime, or a host function that panicked, poisons the sandbox.
    pub(super) fn settle<T>(
        &mut self,
        what: &str,
        result: std::thread::Result<Result<T, Error>>,
    ) -> Result<T, Error> {
        match result {
            Ok(Ok(v)) => Ok(v),
            // A host function that panicked poisoned the state and failed the call.
            Ok(Err(e)) => {
                if self.store.host_state().is_poisoned() {
                    self.state = Lifecycle::Poisoned;
                }
                Err(e)
            }
            Err(p) => {
                self.state = Lifecycle::Poisoned;
                Err(runtime_panicked(self.name, what, p.as_ref()))
            }
        }
    }

    /// Instantiates the module: data and element segments, then the start function, under the
    /// fuel budget and deadline. A sandbox instantiates at most once: after a failure it is
    /// refused (a retry would start over with fresh fuel).
    ///
    /// # Errors
    /// Traps (including in the start function), an exit from a WASI start function, host
    /// failures; `rejected: invalid_invocation` after a failed attempt or a panic.
    pub fn instantiate(&mut self) -> Result<(), Error> {
        if self.state == Lifecycle::Instantiated {
            return Ok(());
        }
        self.observed("(instantiate)", Self::instantiate_inner)
    }

    fn instantiate_inner(&mut self) -> Result<(), Error> {
        let start = self.checked.start_export().map(str::to_owned);
        let result = self.guarded("instantiating", |store| {
            store.instantiate()?;
            if let Some(start) = &start {
                let f = store.func(start).ok_or_else(missing_start)?;
                store.call(&f, &[], &mut [])?;
            }
            Ok(())
        });
        self.instantiated(result)
    }

    /// The lifecycle after an attempt to instantiate: instantiated, or failed for good.
    pub(super) fn instantiated(&mut self, result: Result<(), Error>) -> Result<(), Error> {
        if self.state != Lifecycle::Poisoned {
            self.state = match result {
                Ok(()) => Lifecycle::Instantiated,
                Err(_) => Lifecycle::Failed,
            };
        }
        result
    }

    /// Runs one call into the guest inside a `cage.call` span, recording its metrics when they
    /// are on (see [`crate::telemetry`]).
    #[inline]
    fn observed<T>(
        &mut self,
        export: &str,
        f: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let observation = self.observe(export);
        let result = observation.span.in_scope(|| f(self));
        self.observed_end(observation, &result);
        result
    }

    /// Starts observing one call into the guest (see [`Sandbox::observed`]).
    #[inline]
    pub(super) fn observe(&mut self, export: &str) -> Observation {
        let span = tracing::info_span!(
            "cage.call",
            runtime = %self.name,
            module = %crate::telemetry::module_label(&self.checked.info().sha256),
            export
        );
        let metrics = crate::telemetry::metrics_enabled()
            .then(|| (self.stats().fuel_consumed, std::time::Instant::now()));
        Observation { span, metrics }
    }

    /// Records the metrics of a call observed since [`Sandbox::observe`].
    #[inline]
    pub(super) fn observed_end<T>(&mut self, observation: Observation, result: &Result<T, Error>) {
        let Some((fuel_before, start)) = observation.metrics else {
            return;
        };
        let wall = start.elapsed();
        let stats = self.stats();
        crate::telemetry::record(&crate::telemetry::CallRecord {
            runtime: self.name,
            module: &self.checked.info().sha256,
            result: result.as_ref().map(|_| ()),
            fuel: stats
                .fuel_consumed
                .map(|f| f.saturating_sub(fuel_before.unwrap_or(0))),
            wall,
            peak_memory: stats.peak_memory_bytes,
        });
    }

    /// Checks that the sandbox can run guest code.
    #[inline]
    fn runnable(&mut self) -> Result<(), Error> {
        match self.state {
            Lifecycle::Instantiated => Ok(()),
            Lifecycle::Fresh => Err(invalid("the sandbox is not instantiated")),
            // `guarded` explains which.
            Lifecycle::Failed | Lifecycle::Poisoned => {
                self.guarded("calling", |_| unreachable_state())
            }
        }
    }

    /// The exported function `export`, resolved once (cached by name): its index in the cache.
    fn resolve_index(&mut self, export: &str) -> Result<usize, Error> {
        self.runnable()?;
        if let Some(i) = self.funcs.iter().position(|f| &*f.name == export) {
            return Ok(i);
        }
        let ty = crate::module::export_func(self.checked.info(), export)?;
        let (params, results): (Arc<[ValType]>, Arc<[ValType]>) =
            (ty.params.clone().into(), ty.results.clone().into());
        let func = self
            .store
            .func(export)
            .ok_or_else(|| invalid(format!("no exported function `{export}`")))?;
        self.funcs.push(Func {
            name: export.into(),
            func,
            params,
            results,
            sandbox: self.id,
        });
        Ok(self.funcs.len() - 1)
    }

    /// A handle on the exported function `export`: resolved and checked once, then called with
    /// [`Sandbox::call_func`] without a name lookup or an allocation.
    ///
    /// # Errors
    /// `rejected: invalid_invocation` for a missing export or a sandbox that cannot run.
    pub fn func(&mut self, export: &str) -> Result<Func<B>, Error> {
        let i = self.resolve_index(export)?;
        Ok(self.funcs[i].clone())
    }

    /// Calls the function `f` (of this sandbox) with `args`, writing its results into
    /// `results` (cleared first): the untyped call with no lookup and no allocation once
    /// `results` has grown to size.
    ///
    /// # Errors
    /// As [`Sandbox::call`]; `rejected: invalid_invocation` for a handle of another sandbox.
    #[inline]
    pub fn call_func(
        &mut self,
        f: &Func<B>,
        args: &[Value],
        results: &mut Vec<Value>,
    ) -> Result<(), Error> {
        if f.sandbox != self.id {
            return Err(invalid(
                "a function handle is called on the sandbox it was made from",
            ));
        }
        self.runnable()?;
        if args.len() != f.params.len()
            || args.iter().zip(f.params.iter()).any(|(a, t)| a.ty() != *t)
        {
            let list = |v: &mut dyn Iterator<Item = String>| v.collect::<Vec<_>>().join(", ");
            return Err(invalid(format!(
                "`{}` takes ({}), got ({})",
                f.name,
                list(&mut f.params.iter().map(ToString::to_string)),
                list(&mut args.iter().map(|a| a.ty().to_string()))
            )));
        }
        results.clear();
        results.extend(f.results.iter().map(|t| Value::default_for(*t)));
        self.observed(&f.name, |s| {
            s.refuel_for_call()?;
            s.guarded("calling", |store| store.call(&f.func, args, results))
        })
    }

    /// Calls the exported function `export` under the fuel budget and deadline.
    ///
    /// # Errors
    /// Traps, WASI exits, host failures; `rejected: invalid_invocation` for a missing export,
    /// a non-function, wrong arguments, or a sandbox that is not instantiated (or failed, or
    /// was poisoned).
    pub fn call(&mut self, export: &str, args: &[Value]) -> Result<Vec<Value>, Error> {
        let (func, name, mut results) = self.prepare_call(export, args)?;
        self.observed(&name, |s| {
            s.refuel_for_call()?;
            s.guarded("calling", |store| store.call(&func, args, &mut results))
        })?;
        Ok(results)
    }

    /// Resolves `export` and checks `args` against it: the function, its name, and result
    /// slots of its types.
    pub(super) fn prepare_call(
        &mut self,
        export: &str,
        args: &[Value],
    ) -> Result<PreparedCall<B>, Error> {
        let i = self.resolve_index(export)?;
        let f = &self.funcs[i];
        check_arguments(&f.name, &f.params, args)?;
        let results: Vec<Value> = f.results.iter().map(|t| Value::default_for(*t)).collect();
        Ok((f.func.clone(), f.name.clone(), results))
    }

    /// A typed handle on the exported function `export`, whose signature must be exactly
    /// `P -> R`: resolved and checked once, then called with [`TypedFunc::call`] at the
    /// runtime's typed-call speed, under the same fuel, deadline and trap classification as
    /// [`Sandbox::call`].
    ///
    /// # Errors
    /// `rejected: invalid_invocation` for a missing export, another signature, or a sandbox
    /// that is not instantiated.
    pub fn typed<P: WasmParams, R: WasmResults>(
        &mut self,
        export: &str,
    ) -> Result<TypedFunc<B, P, R>, Error>
    where
        B::Store: TypedStore<P, R>,
    {
        match self.state {
            Lifecycle::Instantiated => {}
            Lifecycle::Fresh => return Err(invalid("the sandbox is not instantiated")),
            Lifecycle::Failed | Lifecycle::Poisoned => {
                return self.guarded("calling", |_| unreachable_state());
            }
        }
        let ty = self
            .checked
            .info()
            .export_func(export)
            .ok_or_else(|| invalid(format!("no exported function `{export}`")))?;
        if ty.params != P::TYPES || ty.results != R::TYPES {
            let list = |v: &[ValType]| {
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(invalid(format!(
                "`{export}` has type {ty}, not ({}) -> ({})",
                list(P::TYPES),
                list(R::TYPES)
            )));
        }
        let func = self
            .store
            .func(export)
            .ok_or_else(|| invalid(format!("no exported function `{export}`")))?;
        let typed = self.guarded("resolving a typed function", |s| s.typed(&func))?;
        Ok(TypedFunc {
            typed,
            name: export.into(),
            sandbox: self.id,
            _signature: std::marker::PhantomData,
        })
    }

    /// Fuel and memory counters (valid in every state).
    pub fn stats(&mut self) -> Stats {
        let mut stats = self.store.stats();
        if let (Some(book), Lifecycle::Instantiated) = (self.fuel, self.state)
            && let Some(left) = self.store.fuel()
        {
            stats.fuel_consumed = Some(book.spent.saturating_add(book.base.saturating_sub(left)));
        }
        stats
    }

    /// Fuel left for the sandbox's next calls; `None` without metering or before
    /// instantiation.
    pub fn fuel_remaining(&mut self) -> Option<u64> {
        match (self.fuel, self.state) {
            (Some(_), Lifecycle::Instantiated) => self.store.fuel(),
            _ => None,
        }
    }

    /// Sets the fuel left for the sandbox's next calls to `fuel` (between calls; also after an
    /// `out_of_fuel` trap, which leaves the sandbox usable). `fuel_consumed` keeps counting:
    /// it is everything consumed, across refuellings. Identical on every runtime.
    ///
    /// # Errors
    /// `rejected: invalid_invocation` without metering (`limits.fuel`), before a successful
    /// instantiation, or above [`crate::policy::MAX_FUEL`]; host failures.
    pub fn set_fuel(&mut self, fuel: u64) -> Result<(), Error> {
        let Some(mut book) = self.fuel else {
            return Err(invalid("the policy has no fuel budget (limits.fuel)"));
        };
        if fuel > crate::policy::MAX_FUEL {
            return Err(invalid(format!(
                "{fuel} fuel is above {}, the largest budget every runtime represents",
                crate::policy::MAX_FUEL
            )));
        }
        if self.state != Lifecycle::Instantiated {
            return Err(invalid("fuel can be set once the sandbox is instantiated"));
        }
        let left = self.store.fuel().unwrap_or(0);
        book.spent = book.spent.saturating_add(book.base.saturating_sub(left));
        book.base = fuel;
        self.store.set_fuel(fuel)?;
        self.fuel = Some(book);
        Ok(())
    }

    /// Adds `fuel` to what is left (saturating at [`crate::policy::MAX_FUEL`]); see
    /// [`Sandbox::set_fuel`].
    ///
    /// # Errors
    /// As [`Sandbox::set_fuel`].
    pub fn add_fuel(&mut self, fuel: u64) -> Result<(), Error> {
        let left = match (self.fuel, self.state) {
            (Some(_), Lifecycle::Instantiated) => self.store.fuel().unwrap_or(0),
            _ => 0,
        };
        self.set_fuel(left.saturating_add(fuel).min(crate::policy::MAX_FUEL))
    }

    /// With `limits.fuel_per_call`, gives the call about to start the whole budget.
    #[inline]
    pub(super) fn refuel_for_call(&mut self) -> Result<(), Error> {
        match self.fuel {
            Some(book) if book.per_call && self.state == Lifecycle::Instantiated => {
                self.set_fuel(book.budget)
            }
            _ => Ok(()),
        }
    }

    /// The exported globals and memories of the instance: empty unless instantiated (an
    /// instance whose start function trapped has no observable exports).
    pub fn exported_state(&mut self) -> ExportedState {
        match self.state {
            Lifecycle::Instantiated => self.store.exported_state(),
            _ => ExportedState::default(),
        }
    }

    /// Takes the output captured so far by the module's import providers (WASI's stdout and
    /// stderr; empty for a module that imports none that captures output).
    pub fn take_output(&mut self) -> Output {
        let ext = &mut self.store.host_state().extensions;
        self.providers
            .iter()
            .find_map(|p| p.take_output(ext))
            .unwrap_or_default()
    }

    /// Gives this sandbox a value of type `T`, which its host functions reach with
    /// [`crate::HostContext`]'s `data::<T>()`: per-sandbox host state, typed, on every runtime.
    /// Returns the value of the same type it replaces.
    pub fn set_data<T: std::any::Any + Send>(&mut self, value: T) -> Option<T> {
        self.store.host_state().extensions.insert(value)
    }

    /// The sandbox's value of type `T`.
    pub fn data<T: std::any::Any + Send>(&mut self) -> Option<&mut T> {
        self.store.host_state().extensions.get_mut::<T>()
    }

    /// The runtime's name.
    pub fn runtime_name(&self) -> RuntimeName {
        self.name
    }

    /// The backend's store (see [`crate::backend::store_of`]).
    pub(crate) fn store(&mut self) -> &mut B::Store {
        &mut self.store
    }
}

/// A typed handle on an exported function of one sandbox (see [`Sandbox::typed`]).
pub struct TypedFunc<B: Backend, P: WasmParams, R: WasmResults>
where
    B::Store: TypedStore<P, R>,
{
    typed: <B::Store as TypedStore<P, R>>::Typed,
    /// The export's name (for spans and metrics).
    name: Arc<str>,
    sandbox: u64,
    _signature: std::marker::PhantomData<fn(P) -> R>,
}

impl<B: Backend, P: WasmParams, R: WasmResults> Clone for TypedFunc<B, P, R>
where
    B::Store: TypedStore<P, R>,
{
    fn clone(&self) -> Self {
        TypedFunc {
            typed: self.typed.clone(),
            name: self.name.clone(),
            sandbox: self.sandbox,
            _signature: std::marker::PhantomData,
        }
    }
}

impl<B: Backend, P: WasmParams, R: WasmResults> std::fmt::Debug for TypedFunc<B, P, R>
where
    B::Store: TypedStore<P, R>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedFunc")
            .field("sandbox", &self.sandbox)
            .finish_non_exhaustive()
    }
}

impl<B: Backend, P: WasmParams, R: WasmResults> TypedFunc<B, P, R>
where
    B::Store: TypedStore<P, R>,
{
    /// Calls the function in `sandbox` (the one it was made from) with `args`.
    ///
    /// # Errors
    /// As [`Sandbox::call`]; `rejected: invalid_invocation` for another sandbox.
    #[inline]
    pub fn call(&self, sandbox: &mut Sandbox<B>, args: P) -> Result<R, Error> {
        if sandbox.id != self.sandbox {
            return Err(invalid(
                "a typed function is called on the sandbox it was made from",
            ));
        }
        sandbox.observed(&self.name, |sb| {
            sb.refuel_for_call()?;
            sb.guarded("calling", |s| s.call_typed(&self.typed, args))
        })
    }
}

/// Checks `args` against the parameter types of the function `name`.
#[inline]
fn check_arguments(name: &str, params: &[ValType], args: &[Value]) -> Result<(), Error> {
    if args.len() == params.len() && args.iter().zip(params).all(|(a, t)| a.ty() == *t) {
        return Ok(());
    }
    let list = |v: &mut dyn Iterator<Item = String>| v.collect::<Vec<_>>().join(", ");
    Err(invalid(format!(
        "`{name}` takes ({}), got ({})",
        list(&mut params.iter().map(ToString::to_string)),
        list(&mut args.iter().map(|a| a.ty().to_string()))
    )))
}

/// The error for a detached start function the instance does not export (a bug).
pub(super) fn missing_start() -> Error {
    Error::host(
        HostFailure::Runtime,
        "the detached start function is not exported",
    )
}

/// A checked call: the function, its name, result slots of its types.
pub(super) type PreparedCall<B> = (FuncOf<B>, Arc<str>, Vec<Value>);

/// A call being observed: its span, and what its metrics start from (when they are on).
pub(super) struct Observation {
    pub(super) span: tracing::Span,
    metrics: Option<(Option<u64>, std::time::Instant)>,
}

fn unreachable_state<T>() -> Result<T, Error> {
    Err(invalid("this sandbox cannot run"))
}
