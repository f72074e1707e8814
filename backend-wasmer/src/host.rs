//! Cage's portable host functions on Wasmer.
//!
//! Wasmer gives a host function no handle on its caller, so each sandbox keeps an [`Env`] that
//! Cage fills in right after instantiation (before the start function runs, which Cage calls
//! itself): the guest's exported `memory` and the fuel global of the Cage middleware.

use std::sync::Arc;

use cage_core::backend::{HostAccess, checked_range};
use cage_core::{HostError, HostFunc, HostState, IntoHostFn, WasmParams, WasmTy};
use wasmer::{
    AsStoreMut, FunctionEnv, FunctionEnvMut, FunctionType, Global, Memory, RuntimeError, StoreMut,
};

use crate::convert::{HostTrap, from_val, to_val, val_type};

/// What host functions need of their sandbox.
pub(crate) struct Env {
    pub(crate) memory: Option<Memory>,
    pub(crate) fuel: Option<Global>,
    /// The sandbox's host state (deadline, WASI, the application's data).
    pub(crate) host: HostState,
}

struct Context<'a> {
    memory: Option<Memory>,
    fuel: Option<Global>,
    host: &'a mut HostState,
    store: StoreMut<'a>,
}

impl Context<'_> {
    fn remaining(&mut self) -> Option<i64> {
        match self.fuel.as_ref()?.get(&mut self.store) {
            wasmer::Value::I64(r) => Some(r),
            _ => None,
        }
    }
}

impl HostAccess for Context<'_> {
    fn memory_read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), HostError> {
        let oob = HostError::MemoryOutOfBounds {
            offset,
            len: buf.len() as u64,
        };
        let mem = self.memory.as_ref().ok_or(oob.clone())?;
        let view = mem.view(&self.store);
        checked_range(offset, buf.len(), view.data_size())?;
        view.read(offset, buf).map_err(|_| oob)
    }

    fn memory_write(&mut self, offset: u64, data: &[u8]) -> Result<(), HostError> {
        let oob = HostError::MemoryOutOfBounds {
            offset,
            len: data.len() as u64,
        };
        let mem = self.memory.as_ref().ok_or(oob.clone())?;
        let view = mem.view(&self.store);
        checked_range(offset, data.len(), view.data_size())?;
        view.write(offset, data).map_err(|_| oob)
    }

    fn memory_len(&mut self) -> u64 {
        self.memory
            .as_ref()
            .map_or(0, |m| m.view(&self.store).data_size())
    }

    fn memory_exported(&mut self) -> bool {
        self.memory.is_some()
    }

    fn fuel_left(&mut self) -> Option<u64> {
        // The middleware's saved counter; never below zero (a run may overshoot between checks).
        self.remaining().map(|r| u64::try_from(r).unwrap_or(0))
    }

    fn set_fuel_left(&mut self, fuel: u64) -> Result<(), HostError> {
        let global = self.fuel.clone().ok_or(HostError::OutOfFuel)?;
        // Policies cap fuel at `MAX_FUEL` (i64::MAX), what the signed global holds exactly.
        let value = i64::try_from(fuel).unwrap_or(i64::MAX);
        global
            .set(&mut self.store, wasmer::Value::I64(value))
            .map_err(|e| HostError::new(e.message()))
    }

    fn host_state(&mut self) -> &mut HostState {
        self.host
    }
}

/// Makes `f` a Wasmer function in `store`: its Wasmer fast path when it has one, else a dynamic
/// Wasmer function that calls it through [`HostFunc::invoke`].
pub(crate) fn function(
    store: &mut impl AsStoreMut,
    env: &FunctionEnv<Env>,
    f: &HostFunc,
) -> Result<wasmer::Function, cage_core::Error> {
    if let Some(fast) = cage_core::backend::fast_path::<WasmerHostFn>(f) {
        return Ok((fast.0)(&mut store.as_store_mut(), env, f.fuel_cost));
    }
    let params =
        f.ty.params
            .iter()
            .map(|t| val_type(*t))
            .collect::<Result<Vec<_>, _>>()?;
    let results =
        f.ty.results
            .iter()
            .map(|t| val_type(*t))
            .collect::<Result<Vec<_>, _>>()?;
    let func = f.clone();
    Ok(wasmer::Function::new_with_env(
        store,
        env,
        FunctionType::new(params, results),
        move |mut fenv: FunctionEnvMut<Env>,
              args: &[wasmer::Value]|
              -> Result<Vec<wasmer::Value>, RuntimeError> {
            let (data, store) = fenv.data_and_store_mut();
            let mut cx = Context {
                memory: data.memory.clone(),
                fuel: data.fuel.clone(),
                host: &mut data.host,
                store,
            };
            let args: Vec<_> = args.iter().map(|v| from_val(&cx.store, v)).collect();
            let out = func
                .invoke(&mut cx, &args)
                .map_err(|e| RuntimeError::user(Box::new(HostTrap(e))))?;
            out.iter()
                .map(|v| to_val(&mut cx.store, v))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| RuntimeError::user(Box::new(HostTrap(HostError::new(e.to_string())))))
        },
    ))
}

/// Wasmer's typed version of a host function, attached to a [`HostFunc`] with
/// [`cage_core::backend::with_fast_path`] (the `cage` crate's `host_fn` does it): Cage makes it with
/// `Function::new_typed_with_env`, Wasmer's typed host-function path, instead of the dynamic
/// closure.
#[derive(Clone)]
pub struct WasmerHostFn(Arc<MakeFn>);

type MakeFn = dyn Fn(&mut StoreMut<'_>, &FunctionEnv<Env>, u64) -> wasmer::Function + Send + Sync;

impl std::fmt::Debug for WasmerHostFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmerHostFn").finish_non_exhaustive()
    }
}

// Shaped like Wasmtime's `HostParams` but not foldable: the bounds and the body are Wasmer's API.
/// Parameter tuples Wasmer can take in a typed host function.
pub trait HostParams: WasmParams + Sized {
    /// Wasmer's typed version of the host function `module.name` calling `f` (its fuel cost is
    /// the [`HostFunc`]'s, read when it is made).
    fn fast_path<R, F>(module: &str, name: &str, f: Arc<F>) -> WasmerHostFn
    where
        R: crate::WasmerResults,
        F: IntoHostFn<Self, R>;
}

macro_rules! host_params {
    ($(($($t:ident),*))*) => {$(
        impl<$($t: WasmTy + wasmer::FromToNativeWasmType),*> HostParams for ($($t,)*) {
            #[allow(non_snake_case)]
            fn fast_path<R, F>(module: &str, name: &str, f: Arc<F>) -> WasmerHostFn
            where
                R: crate::WasmerResults,
                F: IntoHostFn<Self, R>,
            {
                let (module, name): (Arc<str>, Arc<str>) = (module.into(), name.into());
                WasmerHostFn(Arc::new(move |store: &mut StoreMut<'_>, env: &FunctionEnv<Env>, fuel_cost: u64| {
                    let (m, n, f) = (module.clone(), name.clone(), f.clone());
                    wasmer::Function::new_typed_with_env(
                        store,
                        env,
                        move |mut fenv: FunctionEnvMut<Env>, $($t: $t),*|
                              -> Result<R::Native, RuntimeError> {
                            let (data, store) = fenv.data_and_store_mut();
                            let mut cx = Context {
                                memory: data.memory.clone(),
                                fuel: data.fuel.clone(),
                                host: &mut data.host,
                                store,
                            };
                            cage_core::backend::invoke_typed(&m, &n, fuel_cost, &*f, &mut cx, ($($t,)*))
                                .map(R::into_native)
                                .map_err(|e| RuntimeError::user(Box::new(HostTrap(e))))
                        },
                    )
                }))
            }
        }
    )*};
}

cage_core::for_each_arity!(host_params);
