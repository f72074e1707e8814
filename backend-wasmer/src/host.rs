//! Cage's portable host functions on Wasmer.
//!
//! Wasmer gives a host function no handle on its caller, so each sandbox keeps an [`Env`] that
//! Cage fills in right after instantiation (before the start function runs, which Cage calls
//! itself): the guest's exported `memory` and the fuel global of the Cage middleware.

use cage_core::backend::checked_range;
use cage_core::{HostContext, HostError, HostFunc, HostState};
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

impl HostContext for Context<'_> {
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), HostError> {
        let oob = HostError::MemoryOutOfBounds {
            offset,
            len: buf.len() as u64,
        };
        let mem = self.memory.as_ref().ok_or(oob.clone())?;
        let view = mem.view(&self.store);
        checked_range(offset, buf.len(), view.data_size())?;
        view.read(offset, buf).map_err(|_| oob)
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), HostError> {
        let oob = HostError::MemoryOutOfBounds {
            offset,
            len: data.len() as u64,
        };
        let mem = self.memory.as_ref().ok_or(oob.clone())?;
        let view = mem.view(&self.store);
        checked_range(offset, data.len(), view.data_size())?;
        view.write(offset, data).map_err(|_| oob)
    }

    fn memory_size(&mut self) -> u64 {
        self.memory
            .as_ref()
            .map_or(0, |m| m.view(&self.store).data_size())
    }

    fn consume_fuel(&mut self, amount: u64) -> Result<(), HostError> {
        let Some(left) = self.remaining() else {
            return Ok(());
        };
        let fuel = self.fuel.clone().ok_or(HostError::OutOfFuel)?;
        let left = u64::try_from(left).unwrap_or(0);
        let (new, result) = match left.checked_sub(amount) {
            Some(n) => (n, Ok(())),
            None => (0, Err(HostError::OutOfFuel)),
        };
        let new = i64::try_from(new).unwrap_or(i64::MAX);
        fuel.set(&mut self.store, wasmer::Value::I64(new))
            .map_err(|e| HostError::new(e.message()))?;
        result
    }

    fn fuel_remaining(&mut self) -> Option<u64> {
        self.remaining().map(|r| u64::try_from(r).unwrap_or(0))
    }

    fn state(&mut self) -> &mut HostState {
        self.host
    }
}

/// Makes `f` a Wasmer function in `store` that calls it through [`HostFunc::invoke`].
pub(crate) fn function(
    store: &mut impl AsStoreMut,
    env: &FunctionEnv<Env>,
    f: &HostFunc,
) -> Result<wasmer::Function, cage_core::Error> {
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
