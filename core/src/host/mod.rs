//! The portable host-function API: declare an import once, run it on every runtime.
//!
//! A host function gets a [`HostContext`]: bounds-checked copies in and out of the guest's
//! exported `memory` (never a raw pointer), fuel accounting, and nothing else. Returning an
//! error traps the guest: [`HostError::Message`] as `host_error` with the message,
//! [`HostError::OutOfFuel`] as `out_of_fuel`, [`HostError::MemoryOutOfBounds`] as
//! `memory_out_of_bounds`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::error::Error;
use crate::module::{ExternType, FuncType, ModuleInfo};
use crate::outcome::{Rejection, Trap};
pub mod provider;

use crate::state::HostState;
use crate::typed::{WasmParams, WasmResults, WasmTy};
use crate::value::Value;
use provider::ImportProvider;

/// Why a host function stopped the guest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// A failure of the host function: the guest traps `host_error` with this message.
    #[error("{0}")]
    Message(String),
    /// The fuel budget is exhausted: the guest traps `out_of_fuel`.
    #[error("all fuel consumed by a host function")]
    OutOfFuel,
    /// A copy in or out of guest memory fell outside it: the guest traps `memory_out_of_bounds`.
    #[error("host access to guest memory out of bounds: {len} bytes at {offset}")]
    MemoryOutOfBounds {
        /// Start of the access.
        offset: u64,
        /// Length of the access.
        len: u64,
    },
    /// A pointer given to a host function is not aligned for the value it points to (WASI
    /// traps on misaligned pointers): the guest traps `heap_misaligned`.
    #[error("misaligned pointer: {offset} is not a multiple of {align}")]
    Misaligned {
        /// The pointer.
        offset: u64,
        /// The alignment its type needs.
        align: u64,
    },
    /// The call's deadline passed while the host function waited: the guest traps `timeout`.
    #[error("the deadline passed during a host call")]
    Timeout,
    /// The guest asked to exit (WASI `proc_exit`): the run ends `exited` with this code.
    #[error("exit with code {0}")]
    Exit(i32),
    /// The host function panicked: the host's fault. The guest traps `host_error` with the
    /// function's name and the panic message, and the sandbox is poisoned.
    #[error("host function {function} panicked: {message}")]
    Panic {
        /// `module.name` of the host function.
        function: String,
        /// The panic message.
        message: String,
    },
}

impl HostError {
    /// A `host_error` with this message.
    pub fn new(message: impl Into<String>) -> Self {
        HostError::Message(message.into())
    }

    /// The trap and message the guest sees.
    pub fn into_error(self) -> Error {
        let trap = match &self {
            HostError::Message(_) | HostError::Panic { .. } => Trap::HostError,
            HostError::OutOfFuel => Trap::OutOfFuel,
            HostError::MemoryOutOfBounds { .. } => Trap::MemoryOutOfBounds,
            HostError::Misaligned { .. } => Trap::HeapMisaligned,
            HostError::Timeout => Trap::Timeout,
            HostError::Exit(code) => return Error::Exited { code: *code },
        };
        Error::trap(trap, self.to_string())
    }
}

impl From<String> for HostError {
    fn from(s: String) -> Self {
        HostError::Message(s)
    }
}

impl From<&str> for HostError {
    fn from(s: &str) -> Self {
        HostError::Message(s.to_owned())
    }
}

/// What a host function may do to the calling guest.
pub trait HostContext {
    /// Copies `buf.len()` bytes of guest memory at `offset` into `buf`.
    ///
    /// # Errors
    /// [`HostError::MemoryOutOfBounds`] when the range is outside memory or the guest exports
    /// no `memory`.
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), HostError>;

    /// Copies `data` into guest memory at `offset`.
    ///
    /// # Errors
    /// As [`HostContext::read`].
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), HostError>;

    /// Size in bytes of the guest's exported `memory` (0 without one).
    fn memory_size(&mut self) -> u64;

    /// Whether the guest exports a linear memory named `memory` (a memory of size 0 counts).
    fn has_memory(&mut self) -> bool;

    /// Charges `amount` fuel. Without metering this does nothing.
    ///
    /// # Errors
    /// [`HostError::OutOfFuel`] when less than `amount` is left; what was left is consumed.
    fn consume_fuel(&mut self, amount: u64) -> Result<(), HostError>;

    /// Fuel left, or `None` without metering.
    fn fuel_remaining(&mut self) -> Option<u64>;

    /// The sandbox's host state: the call's deadline and the typed extensions (the
    /// application's per-sandbox data, Cage's WASI context).
    fn state(&mut self) -> &mut HostState;

    /// When the current call into the guest must end, if it has a deadline. Host functions that
    /// wait must not wait past it (return [`HostError::Timeout`]).
    fn deadline(&mut self) -> Option<std::time::Instant> {
        self.state().deadline()
    }

    /// Reads `len` bytes at `offset` into a new vector (bounds-checked before allocating).
    ///
    /// # Errors
    /// As [`HostContext::read`].
    fn read_vec(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, HostError> {
        let end = offset.checked_add(len);
        if end.is_none_or(|e| e > self.memory_size()) {
            return Err(HostError::MemoryOutOfBounds { offset, len });
        }
        let mut v = vec![
            0;
            usize::try_from(len)
                .map_err(|_| HostError::MemoryOutOfBounds { offset, len })?
        ];
        self.read(offset, &mut v)?;
        Ok(v)
    }
}

/// What a backend supplies for host functions: access to the calling guest's exported memory
/// and its fuel counter, as primitives. Core implements [`HostContext`] on top of it, so that
/// charging fuel (charge, or consume what is left and trap) is written once for every runtime,
/// as wasmi's `Caller::get_fuel`/`set_fuel` split does. Backend authors implement it (reach it
/// through [`crate::backend::HostAccess`]); applications see [`HostContext`].
pub trait HostAccess {
    /// As [`HostContext::read`].
    ///
    /// # Errors
    /// As [`HostContext::read`].
    fn memory_read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), HostError>;

    /// As [`HostContext::write`].
    ///
    /// # Errors
    /// As [`HostContext::write`].
    fn memory_write(&mut self, offset: u64, data: &[u8]) -> Result<(), HostError>;

    /// As [`HostContext::memory_size`].
    fn memory_len(&mut self) -> u64;

    /// As [`HostContext::has_memory`].
    fn memory_exported(&mut self) -> bool;

    /// Fuel left, `None` without metering.
    fn fuel_left(&mut self) -> Option<u64>;

    /// Sets the fuel left (at most [`crate::policy::MAX_FUEL`]).
    ///
    /// # Errors
    /// The runtime refuses (a host failure).
    fn set_fuel_left(&mut self, fuel: u64) -> Result<(), HostError>;

    /// As [`HostContext::state`].
    fn host_state(&mut self) -> &mut HostState;
}

impl<T: HostAccess> HostContext for T {
    #[inline]
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), HostError> {
        self.memory_read(offset, buf)
    }

    #[inline]
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), HostError> {
        self.memory_write(offset, data)
    }

    #[inline]
    fn memory_size(&mut self) -> u64 {
        self.memory_len()
    }

    #[inline]
    fn has_memory(&mut self) -> bool {
        self.memory_exported()
    }

    #[inline]
    fn consume_fuel(&mut self, amount: u64) -> Result<(), HostError> {
        let Some(left) = self.fuel_left() else {
            return Ok(());
        };
        match left.checked_sub(amount) {
            Some(rest) => self.set_fuel_left(rest),
            None => {
                // Not enough: what was left is consumed, and the guest traps `out_of_fuel`.
                let _ = self.set_fuel_left(0);
                Err(HostError::OutOfFuel)
            }
        }
    }

    #[inline]
    fn fuel_remaining(&mut self) -> Option<u64> {
        self.fuel_left()
    }

    #[inline]
    fn state(&mut self) -> &mut HostState {
        self.host_state()
    }
}

impl dyn HostContext + '_ {
    /// The sandbox's value of type `T` (see [`crate::Sandbox::set_data`]), if it has one.
    pub fn data<T: std::any::Any + Send>(&mut self) -> Option<&mut T> {
        self.state().extensions.get_mut::<T>()
    }
}

/// Checks a copy of `len` bytes at `offset` against a memory of `size` bytes and returns the
/// range as `usize`s. Backends use it so every runtime bounds-checks the same way.
///
/// # Errors
/// [`HostError::MemoryOutOfBounds`].
pub fn checked_range(
    offset: u64,
    len: usize,
    size: u64,
) -> Result<std::ops::Range<usize>, HostError> {
    let oob = || HostError::MemoryOutOfBounds {
        offset,
        len: len as u64,
    };
    let end = offset.checked_add(len as u64).ok_or_else(oob)?;
    if end > size {
        return Err(oob());
    }
    let start = usize::try_from(offset).map_err(|_| oob())?;
    Ok(start..start + len)
}

/// A Rust closure that is a typed host function: `Fn(&mut dyn HostContext, A1, …, An) ->
/// Result<R, HostError>` with [`WasmTy`] parameters (up to eight) and [`WasmResults`] results
/// (see [`HostFunc::wrap`]).
pub trait IntoHostFn<P: WasmParams, R: WasmResults>: Send + Sync + 'static {
    /// Calls the closure with the parameters as a tuple.
    ///
    /// # Errors
    /// The closure's error.
    fn call(&self, cx: &mut dyn HostContext, args: P) -> Result<R, HostError>;
}

macro_rules! into_host_fn {
    ($(($($t:ident),*))*) => {$(
        impl<Func, Res, $($t),*> IntoHostFn<($($t,)*), Res> for Func
        where
            Func: Fn(&mut dyn HostContext, $($t),*) -> Result<Res, HostError> + Send + Sync + 'static,
            Res: WasmResults,
            $($t: WasmTy,)*
        {
            #[inline]
            #[allow(non_snake_case)]
            fn call(&self, cx: &mut dyn HostContext, args: ($($t,)*)) -> Result<Res, HostError> {
                let ($($t,)*) = args;
                self(cx, $($t),*)
            }
        }
    )*};
}

crate::for_each_arity!(into_host_fn);

/// The closure behind a host function.
pub type HostFn =
    dyn Fn(&mut dyn HostContext, &[Value]) -> Result<Vec<Value>, HostError> + Send + Sync;

/// An import the host provides.
#[derive(Clone)]
pub struct HostFunc {
    /// Import module name.
    pub module: String,
    /// Import field name.
    pub name: String,
    /// Signature; a guest importing it with another signature is `rejected: unresolved_import`.
    pub ty: FuncType,
    /// Fuel charged on every call, before the closure runs. Default 0.
    pub fuel_cost: u64,
    func: Arc<HostFn>,
    /// Backend-specific typed versions of this function (see [`crate::backend::with_fast_path`]).
    fast: Vec<Arc<dyn std::any::Any + Send + Sync>>,
    /// An async host function's first part ([`HostFunc::new_async`]): what a backend with
    /// native async awaits through [`HostFunc::invoke_async`].
    #[cfg(feature = "async")]
    pub(crate) prepare: Option<Arc<Prepare>>,
}

impl fmt::Debug for HostFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostFunc")
            .field("module", &self.module)
            .field("name", &self.name)
            .field("ty", &self.ty)
            .field("fuel_cost", &self.fuel_cost)
            .finish_non_exhaustive()
    }
}

impl HostFunc {
    /// A host function `module.name` of type `ty`.
    pub fn new(
        module: impl Into<String>,
        name: impl Into<String>,
        ty: FuncType,
        func: impl Fn(&mut dyn HostContext, &[Value]) -> Result<Vec<Value>, HostError>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        HostFunc {
            module: module.into(),
            name: name.into(),
            ty,
            fuel_cost: 0,
            func: Arc::new(func),
            fast: Vec::new(),
            #[cfg(feature = "async")]
            prepare: None,
        }
    }

    /// A typed host function: a closure with [`WasmTy`] parameters and [`WasmResults`]
    /// results, plus the [`HostContext`]; its signature comes from the closure's types.
    ///
    /// This is the portable, dynamic form (it works on every runtime through [`HostFunc::new`]'s
    /// path). The `cage` crate's `cage::host_fn` builds the same function with each runtime's
    /// typed fast path attached, which calls at the raw runtime's speed.
    ///
    /// ```
    /// use cage_core::{HostContext, HostError, HostFunc};
    /// let bump = HostFunc::wrap("env", "bump", |_: &mut dyn HostContext, x: i32| -> Result<i32, HostError> {
    ///     Ok(x.wrapping_add(1))
    /// });
    /// assert_eq!(bump.ty.to_string(), "(i32) -> (i32)");
    /// ```
    pub fn wrap<P: WasmParams, R: WasmResults, F: IntoHostFn<P, R>>(
        module: impl Into<String>,
        name: impl Into<String>,
        f: F,
    ) -> Self {
        Self::wrap_shared(module, name, Arc::new(f))
    }

    /// [`HostFunc::wrap`] for a closure already shared with typed fast paths.
    pub fn wrap_shared<P: WasmParams, R: WasmResults, F: IntoHostFn<P, R>>(
        module: impl Into<String>,
        name: impl Into<String>,
        f: Arc<F>,
    ) -> Self {
        HostFunc::new(
            module,
            name,
            FuncType::new(P::TYPES.to_vec(), R::TYPES.to_vec()),
            move |cx, args| {
                let p = P::from_values(args)
                    .ok_or_else(|| HostError::new("arguments of the wrong types"))?;
                Ok(f.call(cx, p)?.into_values())
            },
        )
    }

    /// Attaches a backend's typed version of this function, which that backend links instead
    /// of the dynamic closure (it must behave identically: charge `fuel_cost`, contain panics,
    /// poison the sandbox on one). Backends look theirs up with [`crate::backend::fast_path`].
    /// Reached through [`crate::backend::with_fast_path`].
    #[must_use]
    pub(crate) fn with_fast_path<T: std::any::Any + Send + Sync>(mut self, fast: T) -> Self {
        self.fast.push(Arc::new(fast));
        self
    }

    /// The attached fast path of type `T`, if any (for backends). Reached through
    /// [`crate::backend::fast_path`].
    pub(crate) fn fast_path<T: std::any::Any + Send + Sync>(&self) -> Option<&T> {
        self.fast.iter().find_map(|f| f.downcast_ref::<T>())
    }

    /// What a typed fast path does around the closure, exactly as [`HostFunc::invoke`] does:
    /// charge `fuel_cost`, call, contain a panic (poisoning the sandbox), and end the call
    /// `timeout` when the closure returned past the deadline.
    ///
    /// # Errors
    /// The closure's error, out of fuel, or a panic as [`HostError::Panic`].
    #[inline]
    pub(crate) fn invoke_typed<P: WasmParams, R: WasmResults, F: IntoHostFn<P, R>>(
        module: &str,
        name: &str,
        fuel_cost: u64,
        f: &F,
        ctx: &mut dyn HostContext,
        args: P,
    ) -> Result<R, HostError> {
        if fuel_cost > 0 {
            ctx.consume_fuel(fuel_cost)?;
        }
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.call(&mut *ctx, args))) {
            Ok(Ok(_)) if ctx.state().deadline_passed() => Err(HostError::Timeout),
            Ok(r) => r,
            Err(payload) => {
                ctx.state().poison();
                Err(HostError::Panic {
                    function: format!("{module}.{name}"),
                    message: panic_message(payload.as_ref()),
                })
            }
        }
    }

    /// Sets the fuel charged per call.
    #[must_use]
    pub fn with_fuel_cost(mut self, fuel: u64) -> Self {
        self.fuel_cost = fuel;
        self
    }

    /// Runs the function as every backend must: charge `fuel_cost`, call, check the results
    /// against the signature. A closure that returns after the call's deadline has passed ends
    /// the call `trapped: timeout` instead of returning to the guest: the guest cannot be
    /// stopped while a host function runs, so the deadline is judged when it returns.
    ///
    /// # Errors
    /// The closure's error, out of fuel, or results of the wrong types (a `host_error`).
    pub fn invoke(
        &self,
        ctx: &mut dyn HostContext,
        args: &[Value],
    ) -> Result<Vec<Value>, HostError> {
        if self.fuel_cost > 0 {
            ctx.consume_fuel(self.fuel_cost)?;
        }
        // A panic in the host closure is the host's fault: contained here, on every runtime,
        // as a `host_error` naming the function; the sandbox is poisoned.
        let results = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            (self.func)(&mut *ctx, args)
        }));
        self.returned(ctx, results)
    }

    /// What every call of the function ends with, sync or async: a panic is the host's fault
    /// (a `host_error` naming the function; the sandbox is poisoned); a closure that returned
    /// past the call's deadline ends the call `timeout` (the guest cannot be stopped while the
    /// host runs); results must match the signature.
    fn returned(
        &self,
        ctx: &mut dyn HostContext,
        results: std::thread::Result<Result<Vec<Value>, HostError>>,
    ) -> Result<Vec<Value>, HostError> {
        let results = match results {
            Ok(Ok(_)) if ctx.state().deadline_passed() => return Err(HostError::Timeout),
            Ok(r) => r?,
            Err(payload) => return Err(self.panicked(ctx, payload.as_ref())),
        };
        let types: Vec<_> = results.iter().map(Value::ty).collect();
        if types != self.ty.results {
            let got: Vec<String> = types.iter().map(ToString::to_string).collect();
            return Err(HostError::new(format!(
                "host function {}.{} returned ({}), its signature says {}",
                self.module,
                self.name,
                got.join(", "),
                self.ty
            )));
        }
        Ok(results)
    }

    /// A panic of this function: the sandbox is poisoned, the guest traps `host_error`.
    fn panicked(
        &self,
        ctx: &mut dyn HostContext,
        payload: &(dyn std::any::Any + Send),
    ) -> HostError {
        ctx.state().poison();
        HostError::Panic {
            function: format!("{}.{}", self.module, self.name),
            message: panic_message(payload),
        }
    }

    /// Whether this is an async host function ([`HostFunc::new_async`]), which a backend with
    /// native async links as one and calls through [`HostFunc::invoke_async`].
    #[cfg(feature = "async")]
    pub fn is_async(&self) -> bool {
        self.prepare.is_some()
    }

    /// Runs the function as a backend with native async must, inside the guest's async call
    /// (on its fiber): charge `fuel_cost`; run the async function's `prepare` with `ctx`; await
    /// its future (on the executor polling the call; past the call's deadline the call ends
    /// `timeout` and the future is dropped, see [`crate::async_api`]); run its `finish` with
    /// `ctx`; then what [`HostFunc::invoke`] checks (deadline, result types). A panic in any
    /// part is the host's fault (a `host_error`, the sandbox poisoned), never unwinding into
    /// the application's task. A sync function runs as [`HostFunc::invoke`] runs it.
    ///
    /// # Errors
    /// As [`HostFunc::invoke`]; `timeout` when the deadline passed before the future started.
    #[cfg(feature = "async")]
    pub async fn invoke_async(
        &self,
        ctx: &mut (dyn HostContext + Send),
        args: &[Value],
    ) -> Result<Vec<Value>, HostError> {
        use futures_util::FutureExt;
        use std::panic::{AssertUnwindSafe, catch_unwind};
        let Some(prepare) = &self.prepare else {
            return self.invoke(ctx, args);
        };
        if self.fuel_cost > 0 {
            ctx.consume_fuel(self.fuel_cost)?;
        }
        let future = match catch_unwind(AssertUnwindSafe(|| prepare(&mut *ctx, args))) {
            Ok(r) => r?,
            Err(payload) => return Err(self.panicked(ctx, payload.as_ref())),
        };
        // Past the deadline already: the future is not started at all.
        if past_deadline(ctx) {
            return Err(HostError::Timeout);
        }
        let finish = match AssertUnwindSafe(future).catch_unwind().await {
            Ok(r) => r?,
            Err(payload) => return Err(self.panicked(ctx, payload.as_ref())),
        };
        let results = catch_unwind(AssertUnwindSafe(|| finish(&mut *ctx)));
        self.returned(ctx, results)
    }
}

/// What an async host function's future ends with: the part that runs back with the guest's
/// [`HostContext`] (write results into guest memory, charge fuel, return the function's
/// values). See [`HostFunc::new_async`].
#[cfg(feature = "async")]
pub type Finish = Box<dyn FnOnce(&mut dyn HostContext) -> Result<Vec<Value>, HostError> + Send>;

/// The future an async host function returns; it runs on the application's executor.
#[cfg(feature = "async")]
pub type HostFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Finish, HostError>> + Send>>;

/// An async host function's first part: reads its arguments with the guest's
/// [`HostContext`] and returns the future to await ([`HostFunc::new_async`]).
#[cfg(feature = "async")]
pub(crate) type Prepare =
    dyn Fn(&mut dyn HostContext, &[Value]) -> Result<HostFuture, HostError> + Send + Sync;

/// Whether the call `cx` serves is past its deadline: on the coarse clock, or the precise one.
#[cfg(feature = "async")]
pub(crate) fn past_deadline(cx: &mut dyn HostContext) -> bool {
    cx.state().deadline_passed()
        || cx
            .deadline()
            .is_some_and(|d| d <= std::time::Instant::now())
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// The host functions offered to a module, by `(module, name)`.
#[derive(Clone, Debug, Default)]
pub struct HostFunctions {
    funcs: BTreeMap<(String, String), HostFunc>,
}

impl HostFunctions {
    /// No host functions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a function.
    #[must_use]
    pub fn with(mut self, f: HostFunc) -> Self {
        self.insert(f);
        self
    }

    /// Adds (or replaces) a function.
    pub fn insert(&mut self, f: HostFunc) {
        self.funcs.insert((f.module.clone(), f.name.clone()), f);
    }

    /// The function `module.name`.
    pub fn get(&self, module: &str, name: &str) -> Option<&HostFunc> {
        self.funcs.get(&(module.to_owned(), name.to_owned()))
    }

    /// Every function.
    pub fn iter(&self) -> impl Iterator<Item = &HostFunc> {
        self.funcs.values()
    }

    /// The function each import of `module` binds to, in import order: for an import of a
    /// module one of `providers` provides, that provider's function; else the host function of
    /// that name. This is the one place imports are resolved; backends define exactly these.
    ///
    /// # Errors
    /// As [`HostFunctions::resolve`].
    pub fn bind(
        &self,
        module: &ModuleInfo,
        providers: &[Arc<dyn ImportProvider>],
    ) -> Result<Vec<HostFunc>, Error> {
        let mut bound = Vec::with_capacity(module.imports.len());
        for imp in &module.imports {
            bound.push(self.resolve_one(imp, providers)?);
        }
        Ok(bound)
    }

    /// Resolves every import of `module` before any runtime sees it: each must be a host
    /// function of the same type, or what one of `providers` provides for it.
    ///
    /// # Errors
    /// `rejected: unresolved_import` naming the first import that is missing or mistyped.
    pub fn resolve(
        &self,
        module: &ModuleInfo,
        providers: &[Arc<dyn ImportProvider>],
    ) -> Result<(), Error> {
        for imp in &module.imports {
            self.resolve_one(imp, providers)?;
        }
        Ok(())
    }

    fn resolve_one(
        &self,
        imp: &crate::module::Import,
        providers: &[Arc<dyn ImportProvider>],
    ) -> Result<HostFunc, Error> {
        let unresolved = |why: String| {
            Error::reject(
                Rejection::UnresolvedImport,
                format!("import {}.{} {why}", imp.module, imp.name),
            )
        };
        if let Some(p) = providers.iter().find(|p| p.module() == imp.module) {
            return match &imp.ty {
                ExternType::Func { ty } => p.function(&imp.name, ty).map_err(unresolved),
                other => Err(unresolved(format!(
                    "({}) is not provided by the {} provider",
                    other.kind(),
                    p.module()
                ))),
            };
        }
        match (&imp.ty, self.get(&imp.module, &imp.name)) {
            (ExternType::Func { ty }, Some(f)) if *ty == f.ty => Ok(f.clone()),
            (ExternType::Func { ty }, Some(f)) => Err(unresolved(format!(
                "has type {ty} but the host function has type {}",
                f.ty
            ))),
            (ty, _) => Err(unresolved(format!(
                "({}) is not provided by the host",
                ty.kind()
            ))),
        }
    }
}
