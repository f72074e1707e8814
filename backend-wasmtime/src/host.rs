//! Cage's portable host functions on Wasmtime.

use std::sync::Arc;

use cage_core::backend::{HostAccess, checked_range};
use cage_core::{HostError, HostFunc, HostState, IntoHostFn, WasmParams, WasmResults, WasmTy};
use wasmtime::{Caller, Linker, Val};

use crate::StoreData;
use crate::convert::{HostTrap, from_val, to_val, val_type};

/// A host function's view of the calling guest.
struct Context<'a, 'c> {
    caller: &'a mut Caller<'c, StoreData>,
    metered: bool,
}

impl Context<'_, '_> {
    fn memory(&mut self) -> Option<wasmtime::Memory> {
        self.caller.data().memory
    }
}

impl HostAccess for Context<'_, '_> {
    fn memory_read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), HostError> {
        let oob = HostError::MemoryOutOfBounds {
            offset,
            len: buf.len() as u64,
        };
        let mem = self.memory().ok_or(oob.clone())?;
        let data = mem.data(&*self.caller);
        let r = checked_range(offset, buf.len(), data.len() as u64)?;
        buf.copy_from_slice(&data[r]);
        Ok(())
    }

    fn memory_write(&mut self, offset: u64, bytes: &[u8]) -> Result<(), HostError> {
        let oob = HostError::MemoryOutOfBounds {
            offset,
            len: bytes.len() as u64,
        };
        let mem = self.memory().ok_or(oob)?;
        let data = mem.data_mut(&mut *self.caller);
        let r = checked_range(offset, bytes.len(), data.len() as u64)?;
        data[r].copy_from_slice(bytes);
        Ok(())
    }

    fn memory_len(&mut self) -> u64 {
        self.memory()
            .map_or(0, |m| m.data_size(&*self.caller) as u64)
    }

    fn memory_exported(&mut self) -> bool {
        self.memory().is_some()
    }

    fn fuel_left(&mut self) -> Option<u64> {
        if self.metered {
            self.caller.get_fuel().ok()
        } else {
            None
        }
    }

    fn set_fuel_left(&mut self, fuel: u64) -> Result<(), HostError> {
        self.caller
            .set_fuel(fuel)
            .map_err(|e| HostError::new(e.to_string()))
    }

    fn host_state(&mut self) -> &mut HostState {
        &mut self.caller.data_mut().host
    }
}

/// Defines `f` in `linker`: through its Wasmtime fast path when it has one, else as a dynamic
/// Wasmtime function that calls it through [`HostFunc::invoke`].
pub(crate) fn define(
    linker: &mut Linker<StoreData>,
    f: &HostFunc,
    metered: bool,
) -> wasmtime::Result<()> {
    if let Some(fast) = cage_core::backend::fast_path::<WasmtimeHostFn>(f) {
        return (fast.0)(linker, metered, f.fuel_cost);
    }
    let ty = func_type(linker, f)?;
    let func = f.clone();
    linker.func_new(
        &f.module,
        &f.name,
        ty,
        move |mut caller: Caller<'_, StoreData>, params: &[Val], results: &mut [Val]| {
            let args: Vec<_> = params.iter().map(|v| from_val(&mut caller, v)).collect();
            let mut ctx = Context {
                caller: &mut caller,
                metered,
            };
            let out = func
                .invoke(&mut ctx, &args)
                .map_err(|e| wasmtime::Error::new(HostTrap(e)))?;
            for (slot, v) in results.iter_mut().zip(&out) {
                *slot = to_val(&mut caller, v)
                    .map_err(|e| wasmtime::Error::new(HostTrap(HostError::new(e.to_string()))))?;
            }
            Ok(())
        },
    )?;
    Ok(())
}

/// Wasmtime's type of `f`.
fn func_type(linker: &Linker<StoreData>, f: &HostFunc) -> wasmtime::Result<wasmtime::FuncType> {
    let engine = linker.engine().clone();
    let params = f.ty.params.iter().copied().map(val_type);
    let results = f.ty.results.iter().copied().map(val_type);
    Ok(wasmtime::FuncType::new(
        &engine,
        params.collect::<wasmtime::Result<Vec<_>>>()?,
        results.collect::<wasmtime::Result<Vec<_>>>()?,
    ))
}

/// Defines `f` in the linker of a module's async instances (feature `async`): an async host
/// function ([`HostFunc::is_async`]) as a Wasmtime async function, awaited in the guest's
/// fiber through [`HostFunc::invoke_async`] (prepare, await the future, finish); any other as
/// [`define`] does.
#[cfg(feature = "async")]
pub(crate) fn define_async(
    linker: &mut Linker<StoreData>,
    f: &HostFunc,
    metered: bool,
) -> wasmtime::Result<()> {
    if !f.is_async() {
        return define(linker, f, metered);
    }
    let ty = func_type(linker, f)?;
    let func = Arc::new(f.clone());
    linker.func_new_async(
        &f.module,
        &f.name,
        ty,
        move |mut caller: Caller<'_, StoreData>, params: &[Val], results: &mut [Val]| {
            let func = func.clone();
            Box::new(async move {
                let args: Vec<_> = params.iter().map(|v| from_val(&mut caller, v)).collect();
                let mut ctx = Context {
                    caller: &mut caller,
                    metered,
                };
                let out = func
                    .invoke_async(&mut ctx, &args)
                    .await
                    .map_err(|e| wasmtime::Error::new(HostTrap(e)))?;
                for (slot, v) in results.iter_mut().zip(&out) {
                    *slot = to_val(&mut caller, v).map_err(|e| {
                        wasmtime::Error::new(HostTrap(HostError::new(e.to_string())))
                    })?;
                }
                Ok(())
            })
        },
    )?;
    Ok(())
}

/// Wasmtime's typed version of a host function, attached to a [`HostFunc`] with
/// [`cage_core::backend::with_fast_path`] (the `cage` crate's `host_fn` does it): Cage links it with
/// `Linker::func_wrap`, Wasmtime's typed host-function path, instead of the dynamic closure.
#[derive(Clone)]
pub struct WasmtimeHostFn(Arc<DefineFn>);

type DefineFn = dyn Fn(&mut Linker<StoreData>, bool, u64) -> wasmtime::Result<()> + Send + Sync;

impl std::fmt::Debug for WasmtimeHostFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmtimeHostFn").finish_non_exhaustive()
    }
}

/// Results Wasmtime can return from a typed host function: `()`, one value, or a tuple.
pub trait HostResults: WasmResults + wasmtime::WasmRet {}
impl<T: WasmResults + wasmtime::WasmRet> HostResults for T {}

// Shaped like Wasmer's `HostParams` but not foldable: the bounds and the body are Wasmtime's API.
/// Parameter tuples Wasmtime can take in a typed host function.
pub trait HostParams: WasmParams + Sized {
    /// Wasmtime's typed version of the host function `module.name` calling `f` (its fuel cost
    /// is the [`HostFunc`]'s, read when it is linked).
    fn fast_path<R, F>(module: &str, name: &str, f: Arc<F>) -> WasmtimeHostFn
    where
        R: HostResults,
        F: IntoHostFn<Self, R>;
}

macro_rules! host_params {
    ($(($($t:ident),*))*) => {$(
        impl<$($t: WasmTy + wasmtime::WasmTy),*> HostParams for ($($t,)*) {
            #[allow(non_snake_case)]
            fn fast_path<R, F>(module: &str, name: &str, f: Arc<F>) -> WasmtimeHostFn
            where
                R: HostResults,
                F: IntoHostFn<Self, R>,
            {
                let (module, name): (Arc<str>, Arc<str>) = (module.into(), name.into());
                WasmtimeHostFn(Arc::new(move |linker: &mut Linker<StoreData>, metered: bool, fuel_cost: u64| {
                    let (m, n, f) = (module.clone(), name.clone(), f.clone());
                    linker.func_wrap(
                        &module,
                        &name,
                        move |mut caller: Caller<'_, StoreData>, $($t: $t),*| -> wasmtime::Result<R> {
                            let mut ctx = Context { caller: &mut caller, metered };
                            cage_core::backend::invoke_typed(&m, &n, fuel_cost, &*f, &mut ctx, ($($t,)*))
                                .map_err(|e| wasmtime::Error::new(HostTrap(e)))
                        },
                    )?;
                    Ok(())
                }))
            }
        }
    )*};
}

cage_core::for_each_arity!(host_params);
