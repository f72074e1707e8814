//! Cage's Wasmer middleware: fuel metering with core's cost model, checks placed where Wasmtime
//! places them, grow failures that trap on request, and hidden exports of every memory (so the
//! sandbox can report their sizes).
//!
//! Fuel is one i64 global, the fuel remaining. Like Wasmtime 48:
//! - every operator costs core's flat cost; every function entered costs 1 more;
//! - costs are subtracted ("flushed") before every control transfer (`loop`, `if`, `else`,
//!   `end`, branches, calls, `return`, `unreachable`, throws), so code skipped by a branch is
//!   never charged and a host function sees the fuel left after its `call`;
//! - bulk operations (`memory.fill/copy/init`, `table.fill/copy/init/grow`, `memory.grow`) add
//!   their per-byte/per-element cost of the length operand before they run, also when they fail;
//! - the guest traps `out_of_fuel` when consumption has reached the budget (fuel left ≤ 0), checked
//!   only at function entry, at every loop header, and at bulk operations whose length is not a
//!   constant or whose cost is above 128 — so exactly the runs that complete on Wasmtime complete
//!   here, with the same `fuel_consumed`.
//!
//! Exhaustion sets a flag global and executes `unreachable`; Cage reads the flag to tell it from
//! the guest's own `unreachable`. One middleware value serves one module: the global indexes it
//! adds are stored in it, so every compile gets a fresh engine and middleware.

use std::sync::Mutex;

use cage_core::cost::VariableCosts;
use cage_core::{CostModel, Policy};
use wasmer::sys::wasmparser::{BlockType, Operator, ValType};
use wasmer::sys::{FunctionMiddleware, MiddlewareError, MiddlewareReaderState, ModuleMiddleware};
use wasmer::{ExportIndex, GlobalInit, GlobalType, LocalFunctionIndex, Mutability, Type};
use wasmer_types::{GlobalIndex, ModuleInfo};

use crate::convert::{FLAG_GROW_FAILED, FLAG_OUT_OF_FUEL, FLAG_WAIT_UNSHARED};

/// Export name of the fuel-remaining global.
pub(crate) const FUEL_EXPORT: &str = "cage:fuel";
/// Export name of the flag global (why Cage's own `unreachable` ran).
pub(crate) const FLAG_EXPORT: &str = "cage:flag";
/// Prefix of the hidden memory exports.
pub(crate) const MEMORY_EXPORT_PREFIX: &str = "cage:memory:";

/// Bulk operations with a constant length cheaper than this are not checked (Wasmtime's rule).
const CONSTANT_CHECK_THRESHOLD: u64 = 128;

#[derive(Clone, Debug, Default)]
struct Globals {
    fuel: Option<u32>,
    flag: u32,
    scratch: u32,
    /// Per memory index: whether it is shared.
    shared: Vec<bool>,
}

/// The module middleware. Built per compile.
#[derive(Debug)]
pub(crate) struct CageMiddleware {
    fuel: Option<u64>,
    costs: CostModel,
    trap_on_grow_failure: bool,
    globals: Mutex<Option<Globals>>,
}

impl CageMiddleware {
    pub(crate) fn new(policy: &Policy) -> Self {
        CageMiddleware {
            fuel: policy.limits.fuel,
            costs: policy.costs.clone(),
            trap_on_grow_failure: policy.limits.trap_on_grow_failure,
            globals: Mutex::new(None),
        }
    }
}

fn add_global(info: &mut ModuleInfo, ty: Type, init: GlobalInit) -> u32 {
    let index: GlobalIndex = info.globals.push(GlobalType::new(ty, Mutability::Var));
    info.global_initializers.push(init);
    index.as_u32()
}

fn reserved(info: &ModuleInfo, name: &str) -> Result<(), MiddlewareError> {
    if info.exports.contains_key(name) {
        return Err(MiddlewareError::new(
            "cage",
            format!("the export name `{name}` is reserved by Cage"),
        ));
    }
    Ok(())
}

impl ModuleMiddleware for CageMiddleware {
    fn transform_module_info(&self, info: &mut ModuleInfo) -> Result<(), MiddlewareError> {
        let mut slot = self
            .globals
            .lock()
            .map_err(|_| MiddlewareError::new("cage", "poisoned"))?;
        if slot.is_some() {
            return Err(MiddlewareError::new(
                "cage",
                "one Cage middleware serves one module",
            ));
        }
        reserved(info, FUEL_EXPORT)?;
        reserved(info, FLAG_EXPORT)?;
        let fuel = self.fuel.map(|budget| {
            let budget = i64::try_from(budget).unwrap_or(i64::MAX);
            let g = add_global(info, Type::I64, GlobalInit::I64Const(budget));
            info.exports.insert(
                FUEL_EXPORT.to_owned(),
                ExportIndex::Global(GlobalIndex::from_u32(g)),
            );
            g
        });
        let flag = add_global(info, Type::I32, GlobalInit::I32Const(0));
        info.exports.insert(
            FLAG_EXPORT.to_owned(),
            ExportIndex::Global(GlobalIndex::from_u32(flag)),
        );
        let scratch = add_global(info, Type::I32, GlobalInit::I32Const(0));
        let shared = info.memories.values().map(|m| m.shared).collect();
        let memories: Vec<_> = info.memories.keys().collect();
        for m in memories {
            let name = format!("{MEMORY_EXPORT_PREFIX}{}", m.as_u32());
            reserved(info, &name)?;
            info.exports.insert(name, ExportIndex::Memory(m));
        }
        *slot = Some(Globals {
            fuel,
            flag,
            scratch,
            shared,
        });
        Ok(())
    }

    fn generate_function_middleware<'a>(
        &self,
        _: LocalFunctionIndex,
    ) -> Box<dyn FunctionMiddleware<'a> + 'a> {
        let globals = self
            .globals
            .lock()
            .ok()
            .and_then(|g| g.clone())
            .unwrap_or_default();
        Box::new(FunctionMeter {
            globals,
            costs: self.costs.clone(),
            trap_on_grow_failure: self.trap_on_grow_failure,
            acc: 1,
            entered: false,
            last_const: None,
        })
    }
}

/// Per-function state.
#[derive(Debug)]
struct FunctionMeter {
    globals: Globals,
    costs: CostModel,
    trap_on_grow_failure: bool,
    /// Cost of operators seen since the last flush; starts at 1 for the function entry.
    acc: u64,
    entered: bool,
    /// The value of the previous operator if it was an `i32.const`.
    last_const: Option<u32>,
}

macro_rules! operator_name {
    ($(@$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        /// wasmparser's name of an operator (the same across 0.254 and 0.256 for every operator
        /// both know), for core's cost table.
        fn operator_name(op: &Operator<'_>) -> &'static str {
            match op {
                $(Operator::$op { .. } => stringify!($op),)*
                #[allow(unreachable_patterns)]
                _ => "",
            }
        }
    };
}
wasmer::sys::wasmparser::for_each_operator!(operator_name);

fn per_unit(op: &Operator<'_>, v: &VariableCosts) -> Option<u8> {
    Some(match op {
        Operator::MemoryFill { .. } => v.memory_fill_per_byte,
        Operator::MemoryCopy { .. } => v.memory_copy_per_byte,
        Operator::MemoryInit { .. } => v.memory_init_per_byte,
        Operator::MemoryGrow { .. } => v.memory_grow_per_page,
        Operator::TableFill { .. } => v.table_fill_per_element,
        Operator::TableCopy { .. } => v.table_copy_per_element,
        Operator::TableInit { .. } => v.table_init_per_element,
        Operator::TableGrow { .. } => v.table_grow_per_element,
        _ => return None,
    })
}

/// Operators before which accumulated cost is flushed (Wasmtime's flush points).
fn is_flush_point(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::Else
            | Operator::End
            | Operator::Br { .. }
            | Operator::BrIf { .. }
            | Operator::BrTable { .. }
            | Operator::BrOnNull { .. }
            | Operator::BrOnNonNull { .. }
            | Operator::BrOnCast { .. }
            | Operator::BrOnCastFail { .. }
            | Operator::Return
            | Operator::Unreachable
            | Operator::Call { .. }
            | Operator::CallIndirect { .. }
            | Operator::CallRef { .. }
            | Operator::ReturnCall { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::ReturnCallRef { .. }
            | Operator::Throw { .. }
            | Operator::ThrowRef
    )
}

impl FunctionMeter {
    fn metered(&self) -> Option<u32> {
        self.globals.fuel
    }

    /// `fuel -= acc` (nothing when nothing accumulated).
    fn flush<'a>(&mut self, state: &mut MiddlewareReaderState<'a>) {
        let Some(fuel) = self.metered() else { return };
        if self.acc == 0 {
            return;
        }
        let cost = i64::try_from(self.acc).unwrap_or(i64::MAX);
        self.acc = 0;
        state.extend([
            Operator::GlobalGet { global_index: fuel },
            Operator::I64Const { value: cost },
            Operator::I64Sub,
            Operator::GlobalSet { global_index: fuel },
        ]);
    }

    /// Traps `out_of_fuel` (flag, fuel := 0, unreachable) when no fuel is left.
    fn check<'a>(&self, state: &mut MiddlewareReaderState<'a>) {
        let Some(fuel) = self.metered() else { return };
        state.extend([
            Operator::GlobalGet { global_index: fuel },
            Operator::I64Const { value: 0 },
            Operator::I64LeS,
            Operator::If {
                blockty: BlockType::Empty,
            },
            Operator::I32Const {
                value: FLAG_OUT_OF_FUEL,
            },
            Operator::GlobalSet {
                global_index: self.globals.flag,
            },
            Operator::I64Const { value: 0 },
            Operator::GlobalSet { global_index: fuel },
            Operator::Unreachable,
            Operator::End,
        ]);
    }

    /// Charges `len * per_unit` for the i32 length on top of the stack, leaving it there.
    fn charge_dynamic<'a>(&self, per_unit: u8, state: &mut MiddlewareReaderState<'a>) {
        let Some(fuel) = self.metered() else { return };
        if per_unit == 0 {
            return;
        }
        let s = self.globals.scratch;
        state.extend([
            Operator::GlobalSet { global_index: s },
            Operator::GlobalGet { global_index: s },
            Operator::GlobalGet { global_index: fuel },
            Operator::GlobalGet { global_index: s },
            Operator::I64ExtendI32U,
            Operator::I64Const {
                value: i64::from(per_unit),
            },
            Operator::I64Mul,
            Operator::I64Sub,
            Operator::GlobalSet { global_index: fuel },
        ]);
    }

    /// After `memory.grow`/`table.grow`: trap `resource_limit` if the result is -1.
    fn trap_on_failed_grow<'a>(&self, state: &mut MiddlewareReaderState<'a>) {
        let s = self.globals.scratch;
        state.extend([
            Operator::GlobalSet { global_index: s },
            Operator::GlobalGet { global_index: s },
            Operator::GlobalGet { global_index: s },
            Operator::I32Const { value: -1 },
            Operator::I32Eq,
            Operator::If {
                blockty: BlockType::Empty,
            },
            Operator::I32Const {
                value: FLAG_GROW_FAILED,
            },
            Operator::GlobalSet {
                global_index: self.globals.flag,
            },
            Operator::Unreachable,
            Operator::End,
        ]);
    }
}

impl FunctionMeter {
    /// Whether `op` waits on a memory that is not shared: the threads proposal says it traps.
    fn waits_on_unshared(&self, op: &Operator<'_>) -> bool {
        let memory = match op {
            Operator::MemoryAtomicWait32 { memarg } | Operator::MemoryAtomicWait64 { memarg } => {
                memarg.memory
            }
            _ => return false,
        };
        !self
            .globals
            .shared
            .get(memory as usize)
            .copied()
            .unwrap_or(false)
    }
}

impl<'a> FunctionMiddleware<'a> for FunctionMeter {
    fn feed(
        &mut self,
        op: Operator<'a>,
        state: &mut MiddlewareReaderState<'a>,
    ) -> Result<(), MiddlewareError> {
        if !self.entered {
            self.entered = true;
            self.flush(state);
            self.check(state);
        }
        let metered = self.metered().is_some();
        let last_const = self.last_const.take();
        if metered {
            self.acc = self
                .acc
                .saturating_add(u64::from(self.costs.cost_by_name(operator_name(&op))));
        }
        let is_grow = matches!(op, Operator::MemoryGrow { .. } | Operator::TableGrow { .. });
        if let Some(unit) = per_unit(&op, &self.costs.variable) {
            if metered {
                match last_const {
                    Some(len) if u64::from(len) * u64::from(unit) <= CONSTANT_CHECK_THRESHOLD => {
                        self.acc = self.acc.saturating_add(u64::from(len) * u64::from(unit));
                    }
                    Some(len) => {
                        self.acc = self.acc.saturating_add(u64::from(len) * u64::from(unit));
                        self.flush(state);
                        self.check(state);
                    }
                    None => {
                        self.flush(state);
                        self.charge_dynamic(unit, state);
                        self.check(state);
                    }
                }
            }
            state.push_operator(op);
            if is_grow && self.trap_on_grow_failure {
                self.trap_on_failed_grow(state);
            }
            return Ok(());
        }
        if let Operator::I32Const { value } = op {
            self.last_const = Some(value as u32);
        }
        if self.waits_on_unshared(&op) {
            state.extend([
                Operator::I32Const {
                    value: FLAG_WAIT_UNSHARED,
                },
                Operator::GlobalSet {
                    global_index: self.globals.flag,
                },
                Operator::Unreachable,
            ]);
        }
        if is_flush_point(&op) {
            let is_loop = matches!(op, Operator::Loop { .. });
            self.flush(state);
            state.push_operator(op);
            if is_loop {
                self.check(state);
            }
            return Ok(());
        }
        state.push_operator(op);
        Ok(())
    }
}

// The scratch global is i32: Wasmer has no memory64/table64, so every length is an i32.
const _: ValType = ValType::I32;
