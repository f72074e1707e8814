//! Cage's portable host functions on Wasmtime.

use cage_core::backend::checked_range;
use cage_core::{HostContext, HostError, HostFunc, HostState};
use wasmtime::{Caller, Extern, Linker, Val};

use crate::StoreData;
use crate::convert::{HostTrap, from_val, to_val, val_type};

/// A host function's view of the calling guest.
struct Context<'a, 'c> {
    caller: &'a mut Caller<'c, StoreData>,
    metered: bool,
}

impl Context<'_, '_> {
    fn memory(&mut self) -> Option<wasmtime::Memory> {
        match self.caller.get_export("memory") {
            Some(Extern::Memory(m)) => Some(m),
            _ => None,
        }
    }
}

impl HostContext for Context<'_, '_> {
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), HostError> {
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

    fn write(&mut self, offset: u64, bytes: &[u8]) -> Result<(), HostError> {
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

    fn memory_size(&mut self) -> u64 {
        self.memory()
            .map_or(0, |m| m.data_size(&*self.caller) as u64)
    }

    fn consume_fuel(&mut self, amount: u64) -> Result<(), HostError> {
        if !self.metered {
            return Ok(());
        }
        let left = self.caller.get_fuel().unwrap_or(0);
        if left < amount {
            let _ = self.caller.set_fuel(0);
            return Err(HostError::OutOfFuel);
        }
        self.caller
            .set_fuel(left - amount)
            .map_err(|e| HostError::new(e.to_string()))
    }

    fn fuel_remaining(&mut self) -> Option<u64> {
        if self.metered {
            self.caller.get_fuel().ok()
        } else {
            None
        }
    }

    fn state(&mut self) -> &mut HostState {
        &mut self.caller.data_mut().host
    }
}

/// Defines `f` in `linker` as a Wasmtime function that calls it through [`HostFunc::invoke`].
pub(crate) fn define(
    linker: &mut Linker<StoreData>,
    f: &HostFunc,
    metered: bool,
) -> wasmtime::Result<()> {
    let engine = linker.engine().clone();
    let ty = wasmtime::FuncType::new(
        &engine,
        f.ty.params.iter().copied().map(val_type),
        f.ty.results.iter().copied().map(val_type),
    );
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
