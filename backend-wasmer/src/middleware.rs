//! Cage's Wasmer middleware: fuel metering with core's cost model, checks placed where Wasmtime
//! places them, grow failures that trap on request, and hidden exports of every memory (so the
//! sandbox can report their sizes).
//!
//! Fuel is two i64 globals, mirroring Wasmtime 48's register and store counter: the *working*
//! fuel (Wasmtime's `fuel_var`) and the *saved* fuel (its `VMStoreContext` counter, exported as
//! `cage:fuel`, which the host reads). Like Wasmtime 48:
//! - every operator costs core's flat cost; every function entered costs 1 more;
//! - costs are subtracted from the working fuel before every control transfer (`loop`, `if`,
//!   `else`, `end`, branches), so code skipped by a branch is never charged;
//! - the working fuel is saved before calls, `return`, `unreachable`, throws and at the
//!   function's end, and reloaded at function entry and after calls: a host function sees the
//!   fuel left at its `call`, and a trap other than `unreachable` loses what was consumed since
//!   the last save — exactly as on Wasmtime, so that a later call starts with the same fuel.
//!   Like Wasmtime, a load or store whose static offset and size exceed its memory's largest
//!   possible size (it always traps) saves first.
//!   A branch to the function's own label is a return too: Cage wraps the body in a block whose
//!   end is followed by the save. (A function with two or more results would need a new type
//!   for that block; its branches to the function label save before branching instead, which
//!   differs from Wasmtime only on a `br_if`/`br_table` not taken followed by a trap before
//!   the next save);
//! - bulk operations (`memory.fill/copy/init`, `table.fill/copy/init/grow`, `memory.grow`) add
//!   their per-byte/per-element cost of the length operand before they run, also when they fail;
//! - the guest traps `out_of_fuel` when consumption has reached the budget (fuel left ≤ 0), checked
//!   only at function entry, at every loop header, and at bulk operations whose length is not a
//!   constant or whose cost is above 128 — so exactly the runs that complete on Wasmtime complete
//!   here, with the same `fuel_consumed`.
//!
//! Exhaustion sets a flag global and executes `unreachable`; Cage reads the flag to tell it from
//! the guest's own `unreachable`.
//!
//! Deadlines are cooperative, like Wasmtime's epochs: with a timeout, a *stop* global is checked
//! at every function entry and loop header, and the watchdog thread raises it (through the
//! global's cell, `unsafe_api::StopCell`) once the call's deadline passed; the guest then sets
//! the flag and executes `unreachable`, classified `timeout`. No signal is ever sent, so an
//! interrupt can never land in host code (Wasmer's own `SIGUSR1` interrupts could, and unwinding
//! out of `malloc` deadlocks). One middleware value serves one module: the global indexes it
//! adds are stored in it, so every compile gets a fresh engine and middleware.
//!
//! Why one file over 800 lines: one middleware, whose fuel, deadline and grow checks must be
//! placed by one pass over each function's operators.

use std::sync::Mutex;

use cage_core::cost::VariableCosts;
use cage_core::{CostModel, Policy};
use wasmer::sys::wasmparser::{BlockType, Operator, ValType};
use wasmer::sys::{FunctionMiddleware, MiddlewareError, MiddlewareReaderState, ModuleMiddleware};
use wasmer::{ExportIndex, GlobalInit, GlobalType, LocalFunctionIndex, Mutability, Type};
use wasmer_types::{GlobalIndex, ModuleInfo};

use crate::convert::{
    FLAG_GROW_FAILED, FLAG_OUT_OF_FUEL, FLAG_TIMEOUT, FLAG_UNREACHABLE, FLAG_WAIT_UNSHARED,
};

/// The names of the exports the middleware adds for Cage's bookkeeping. They start with a prefix
/// that no export of the guest starts with (`cage:`, or `cage1:`, `cage2:`, … when the guest
/// uses it), so a guest may name its exports anything and they behave the same as on Wasmtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HiddenExports {
    /// The prefix every hidden export starts with.
    pub(crate) prefix: String,
    /// The fuel-remaining global.
    fuel: String,
    /// The flag global (why Cage's own `unreachable` ran).
    flag: String,
    /// The stop global the deadline watchdog raises.
    stop: String,
}

impl HiddenExports {
    fn choose(info: &ModuleInfo) -> Self {
        let taken = |p: &str| info.exports.keys().any(|n| n.starts_with(p));
        let prefix = std::iter::once("cage:".to_owned())
            .chain((1u32..).map(|i| format!("cage{i}:")))
            .find(|p| !taken(p))
            .unwrap_or_default();
        Self::from_prefix(&prefix)
    }

    /// The names under `prefix` (for code loaded from the cache, which stores the prefix).
    pub(crate) fn from_prefix(prefix: &str) -> Self {
        HiddenExports {
            fuel: format!("{prefix}fuel"),
            flag: format!("{prefix}flag"),
            stop: format!("{prefix}stop"),
            prefix: prefix.to_owned(),
        }
    }

    /// The fuel-remaining global.
    pub(crate) fn fuel(&self) -> &str {
        &self.fuel
    }

    /// The flag global (why Cage's own `unreachable` ran).
    pub(crate) fn flag(&self) -> &str {
        &self.flag
    }

    /// The stop global (non-zero: the deadline passed).
    pub(crate) fn stop(&self) -> &str {
        &self.stop
    }

    /// The hidden export of memory `i`.
    pub(crate) fn memory(&self, i: u32) -> String {
        format!("{}memory:{i}", self.prefix)
    }

    /// Whether `name` is one of them.
    pub(crate) fn is_hidden(&self, name: &str) -> bool {
        name.starts_with(&self.prefix)
    }

    /// Whether `name` is a hidden memory export.
    pub(crate) fn is_memory(&self, name: &str) -> bool {
        name.strip_prefix(&self.prefix)
            .is_some_and(|rest| rest.starts_with("memory:"))
    }

    /// The hidden export of table `i` (for the peak table size).
    pub(crate) fn table(&self, i: u32) -> String {
        format!("{}table:{i}", self.prefix)
    }

    /// Whether `name` is a hidden table export.
    pub(crate) fn is_table(&self, name: &str) -> bool {
        name.strip_prefix(&self.prefix)
            .is_some_and(|rest| rest.starts_with("table:"))
    }
}

/// How Cage's middleware stops the guest: an integer division by zero (a trap Wasmer raises
/// from its signal handler, on the signal stack), then `unreachable` for the validator (never
/// reached). Not `unreachable` itself: Wasmer's Cranelift compiles it to a libcall that captures
/// a backtrace on the guest's stack, and when that stack is nearly exhausted the capture
/// overflows while holding the `backtrace` crate's process-wide lock, which the trap's unwinding
/// then abandons: every later trap in the process hangs. The flag set before says why.
const TRAP: [Operator<'static>; 5] = [
    Operator::I32Const { value: 0 },
    Operator::I32Const { value: 0 },
    Operator::I32DivU,
    Operator::Drop,
    Operator::Unreachable,
];

/// `state.extend(ops)`, with every `unreachable` made a [`TRAP`].
fn emit<'a>(state: &mut MiddlewareReaderState<'a>, ops: impl IntoIterator<Item = Operator<'a>>) {
    for op in ops {
        if matches!(op, Operator::Unreachable) {
            state.extend(TRAP.iter().cloned());
        } else {
            state.push_operator(op);
        }
    }
}

/// Bulk operations with a constant length cheaper than this are not checked (Wasmtime's rule).
const CONSTANT_CHECK_THRESHOLD: u64 = 128;

#[derive(Clone, Debug, Default)]
struct Globals {
    /// Saved fuel (exported).
    fuel: Option<u32>,
    /// Working fuel.
    var: Option<u32>,
    flag: u32,
    /// Raised by the deadline watchdog; checked where Wasmtime checks its epoch.
    stop: Option<u32>,
    scratch: u32,
    /// Per memory index: whether it is shared.
    shared: Vec<bool>,
    /// Per local function: the block type of its results, when one exists without adding a
    /// type (no or one result).
    results: Vec<Option<BlockType>>,
    /// Per memory index: the largest size it can ever have, in bytes, as declared.
    max_bytes: Vec<u64>,
    /// The names of the exports added.
    names: Option<HiddenExports>,
}

/// The memory, static offset and access size of a load or store (atomics excepted: Cage runs
/// them only with threads, where Wasmer is not compared on fuel after traps).
fn memory_access(op: &Operator<'_>) -> Option<(u32, u64, u64)> {
    use Operator as O;
    let (m, size) = match op {
        O::I32Load8S { memarg }
        | O::I32Load8U { memarg }
        | O::I64Load8S { memarg }
        | O::I64Load8U { memarg }
        | O::I32Store8 { memarg }
        | O::I64Store8 { memarg }
        | O::V128Load8Splat { memarg }
        | O::V128Load8Lane { memarg, .. }
        | O::V128Store8Lane { memarg, .. } => (memarg, 1),
        O::I32Load16S { memarg }
        | O::I32Load16U { memarg }
        | O::I64Load16S { memarg }
        | O::I64Load16U { memarg }
        | O::I32Store16 { memarg }
        | O::I64Store16 { memarg }
        | O::V128Load16Splat { memarg }
        | O::V128Load16Lane { memarg, .. }
        | O::V128Store16Lane { memarg, .. } => (memarg, 2),
        O::I32Load { memarg }
        | O::F32Load { memarg }
        | O::I64Load32S { memarg }
        | O::I64Load32U { memarg }
        | O::I32Store { memarg }
        | O::F32Store { memarg }
        | O::I64Store32 { memarg }
        | O::V128Load32Splat { memarg }
        | O::V128Load32Zero { memarg }
        | O::V128Load32Lane { memarg, .. }
        | O::V128Store32Lane { memarg, .. } => (memarg, 4),
        O::I64Load { memarg }
        | O::F64Load { memarg }
        | O::I64Store { memarg }
        | O::F64Store { memarg }
        | O::V128Load8x8S { memarg }
        | O::V128Load8x8U { memarg }
        | O::V128Load16x4S { memarg }
        | O::V128Load16x4U { memarg }
        | O::V128Load32x2S { memarg }
        | O::V128Load32x2U { memarg }
        | O::V128Load64Splat { memarg }
        | O::V128Load64Zero { memarg }
        | O::V128Load64Lane { memarg, .. }
        | O::V128Store64Lane { memarg, .. } => (memarg, 8),
        O::V128Load { memarg } | O::V128Store { memarg } => (memarg, 16),
        _ => return None,
    };
    Some((m.memory, m.offset, size))
}

/// The block type that yields `results`, when one exists without a type index.
fn block_type(results: &[Type]) -> Option<BlockType> {
    Some(match results {
        [] => BlockType::Empty,
        [t] => BlockType::Type(match t {
            Type::I32 => ValType::I32,
            Type::I64 => ValType::I64,
            Type::F32 => ValType::F32,
            Type::F64 => ValType::F64,
            Type::V128 => ValType::V128,
            Type::FuncRef => ValType::FUNCREF,
            Type::ExternRef => ValType::EXTERNREF,
            _ => return None,
        }),
        _ => return None,
    })
}

/// The module middleware. Built per compile.
#[derive(Debug)]
pub(crate) struct CageMiddleware {
    fuel: Option<u64>,
    deadline: bool,
    costs: CostModel,
    trap_on_grow_failure: bool,
    globals: Mutex<Option<Globals>>,
}

impl CageMiddleware {
    pub(crate) fn new(policy: &Policy) -> Self {
        CageMiddleware {
            fuel: policy.limits.fuel,
            deadline: policy.limits.timeout.is_some(),
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

impl CageMiddleware {
    /// The names of the exports added to the module this middleware served, once it has run.
    pub(crate) fn hidden_exports(&self) -> Option<HiddenExports> {
        self.globals.lock().ok()?.as_ref()?.names.clone()
    }
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
        let names = HiddenExports::choose(info);
        let fuel = self.fuel.map(|budget| {
            let budget = i64::try_from(budget).unwrap_or(i64::MAX);
            let g = add_global(info, Type::I64, GlobalInit::I64Const(budget));
            info.exports.insert(
                names.fuel().to_owned(),
                ExportIndex::Global(GlobalIndex::from_u32(g)),
            );
            (g, add_global(info, Type::I64, GlobalInit::I64Const(budget)))
        });
        let (fuel, var) = (fuel.map(|f| f.0), fuel.map(|f| f.1));
        let flag = add_global(info, Type::I32, GlobalInit::I32Const(0));
        info.exports.insert(
            names.flag().to_owned(),
            ExportIndex::Global(GlobalIndex::from_u32(flag)),
        );
        let stop = self.deadline.then(|| {
            let g = add_global(info, Type::I32, GlobalInit::I32Const(0));
            info.exports.insert(
                names.stop().to_owned(),
                ExportIndex::Global(GlobalIndex::from_u32(g)),
            );
            g
        });
        let scratch = add_global(info, Type::I32, GlobalInit::I32Const(0));
        let shared = info.memories.values().map(|m| m.shared).collect();
        let max_bytes = info
            .memories
            .values()
            .map(|m| match m.maximum {
                Some(p) => u64::from(p.0) * 65_536,
                // Like Wasmtime: the larger of the minimum and what a 32-bit index reaches.
                None => (u64::from(m.minimum.0) * 65_536).max(1 << 32),
            })
            .collect();
        let results = info
            .functions
            .values()
            .skip(info.num_imported_functions)
            .map(|sig| block_type(info.signatures[*sig].results()))
            .collect();
        let memories: Vec<_> = info.memories.keys().collect();
        for m in memories {
            info.exports
                .insert(names.memory(m.as_u32()), ExportIndex::Memory(m));
        }
        let tables: Vec<_> = info.tables.keys().collect();
        for t in tables {
            info.exports
                .insert(names.table(t.as_u32()), ExportIndex::Table(t));
        }
        *slot = Some(Globals {
            fuel,
            var,
            flag,
            stop,
            scratch,
            shared,
            results,
            max_bytes,
            names: Some(names),
        });
        Ok(())
    }

    fn generate_function_middleware<'a>(
        &self,
        index: LocalFunctionIndex,
    ) -> Box<dyn FunctionMiddleware<'a> + 'a> {
        // Fail closed: without the module pass's globals this function cannot be metered, and
        // compiling it unmetered would be a sandbox without its limits.
        let Some(globals) = self.globals.lock().ok().and_then(|g| g.clone()) else {
            return Box::new(Unmeterable);
        };
        let wrapper = globals
            .results
            .get(index.as_u32() as usize)
            .copied()
            .flatten();
        Box::new(FunctionMeter {
            wrapper,
            globals,
            costs: self.costs.clone(),
            trap_on_grow_failure: self.trap_on_grow_failure,
            acc: 1,
            entered: false,
            depth: 0,
            last_const: None,
        })
    }
}

/// The function middleware used when metering could not be set up: it fails the compilation.
#[derive(Debug)]
struct Unmeterable;

impl<'a> FunctionMiddleware<'a> for Unmeterable {
    fn feed(
        &mut self,
        _: Operator<'a>,
        _: &mut MiddlewareReaderState<'a>,
    ) -> Result<(), MiddlewareError> {
        Err(MiddlewareError::new(
            "cage",
            "the metering middleware's module pass did not run (or its state is poisoned): \
             refusing to compile an unmetered function",
        ))
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
    /// Blocks open; the `end` at depth 0 ends the function.
    depth: u32,
    /// The block Cage wraps the body in, so that a branch to the function's label leaves
    /// through the exit's save (`None`: the results need a type index; such branches save
    /// before they branch instead).
    wrapper: Option<BlockType>,
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

/// Operators before which accumulated cost is subtracted from the working fuel (Wasmtime's
/// `fuel_increment_var` points).
fn is_flush_point(op: &Operator<'_>) -> bool {
    is_save_point(op)
        || matches!(
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
        )
}

/// Operators before which the working fuel is also saved (Wasmtime's `fuel_save_from_var`
/// points: control leaves the function).
fn is_save_point(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::Return
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

/// Calls after which the working fuel is reloaded (the callee may have changed it).
fn is_reload_point(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::Call { .. } | Operator::CallIndirect { .. } | Operator::CallRef { .. }
    )
}

impl FunctionMeter {
    /// The working fuel global, when metering.
    fn metered(&self) -> Option<u32> {
        self.globals.var
    }

    /// Saved fuel := working fuel.
    fn save<'a>(&self, state: &mut MiddlewareReaderState<'a>) {
        if let (Some(fuel), Some(var)) = (self.globals.fuel, self.globals.var) {
            state.extend([
                Operator::GlobalGet { global_index: var },
                Operator::GlobalSet { global_index: fuel },
            ]);
        }
    }

    /// Working fuel := saved fuel.
    fn load<'a>(&self, state: &mut MiddlewareReaderState<'a>) {
        if let (Some(fuel), Some(var)) = (self.globals.fuel, self.globals.var) {
            state.extend([
                Operator::GlobalGet { global_index: fuel },
                Operator::GlobalSet { global_index: var },
            ]);
        }
    }

    /// `working fuel -= acc` (nothing when nothing accumulated).
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
        let (Some(var), Some(fuel)) = (self.metered(), self.globals.fuel) else {
            return;
        };
        emit(
            state,
            [
                Operator::GlobalGet { global_index: var },
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
            ],
        );
    }

    /// Traps `timeout` (flag, unreachable) when the watchdog raised the stop global: at
    /// function entry and loop headers, where Wasmtime checks its epoch deadline.
    fn stop_check<'a>(&self, state: &mut MiddlewareReaderState<'a>) {
        let Some(stop) = self.globals.stop else {
            return;
        };
        let scratch = self.globals.scratch;
        emit(
            state,
            [
                // Every check point first increments the scratch global: a store of a value the
                // optimiser cannot know, so the load of the stop global after it is never treated
                // as redundant. (Cranelift's alias analysis otherwise forwards the entry check's load
                // to every loop header, since no store comes between, and the watchdog's write, from
                // another thread, is never seen: a `(loop br 0)` ran forever.)
                Operator::GlobalGet {
                    global_index: scratch,
                },
                Operator::I32Const { value: 1 },
                Operator::I32Add,
                Operator::GlobalSet {
                    global_index: scratch,
                },
                Operator::GlobalGet { global_index: stop },
                Operator::If {
                    blockty: BlockType::Empty,
                },
                Operator::I32Const {
                    value: FLAG_TIMEOUT,
                },
                Operator::GlobalSet {
                    global_index: self.globals.flag,
                },
                Operator::Unreachable,
                Operator::End,
            ],
        );
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
        emit(
            state,
            [
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
            ],
        );
    }
}

impl FunctionMeter {
    /// Whether `op` accesses memory out of bounds whatever its index.
    fn always_out_of_bounds(&self, op: &Operator<'_>) -> bool {
        memory_access(op).is_some_and(|(memory, offset, size)| {
            let max = self
                .globals
                .max_bytes
                .get(memory as usize)
                .copied()
                .unwrap_or(u64::MAX);
            offset.saturating_add(size) > max
        })
    }

    /// Whether `op` may branch to the function's own label (a return).
    fn leaves_function(&self, op: &Operator<'_>) -> bool {
        match op {
            Operator::Br { relative_depth }
            | Operator::BrIf { relative_depth }
            | Operator::BrOnNull { relative_depth }
            | Operator::BrOnNonNull { relative_depth }
            | Operator::BrOnCast { relative_depth, .. }
            | Operator::BrOnCastFail { relative_depth, .. } => *relative_depth == self.depth,
            Operator::BrTable { targets } => {
                targets.default() == self.depth
                    || targets.targets().any(|t| t.is_ok_and(|t| t == self.depth))
            }
            _ => false,
        }
    }

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
            self.load(state);
            self.flush(state);
            self.check(state);
            self.stop_check(state);
            if let (Some(blockty), Some(_)) = (self.wrapper, self.metered()) {
                state.push_operator(Operator::Block { blockty });
            }
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
        if metered && self.always_out_of_bounds(&op) {
            // Wasmtime compiles an access whose static offset and size exceed the memory's
            // largest possible size to a plain trap, and saves the fuel before it.
            self.flush(state);
            self.save(state);
        }
        if self.waits_on_unshared(&op) {
            emit(
                state,
                [
                    Operator::I32Const {
                        value: FLAG_WAIT_UNSHARED,
                    },
                    Operator::GlobalSet {
                        global_index: self.globals.flag,
                    },
                    Operator::Unreachable,
                ],
            );
        }
        let function_end = match op {
            Operator::Block { .. }
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::Try { .. }
            | Operator::TryTable { .. } => {
                self.depth += 1;
                false
            }
            Operator::End if self.depth == 0 => true,
            Operator::End => {
                self.depth -= 1;
                false
            }
            _ => false,
        };
        let wrapped = self.wrapper.is_some() && self.metered().is_some();
        if function_end && wrapped {
            self.flush(state);
            state.push_operator(Operator::End);
            self.save(state);
            state.push_operator(op);
            return Ok(());
        }
        if is_flush_point(&op) {
            let is_loop = matches!(op, Operator::Loop { .. });
            self.flush(state);
            if is_save_point(&op) || function_end || (!wrapped && self.leaves_function(&op)) {
                self.save(state);
            }
            let reload = is_reload_point(&op);
            if matches!(op, Operator::Unreachable) {
                // The guest's own: the same signal-raised trap as Cage's, flagged as its.
                emit(
                    state,
                    [
                        Operator::I32Const {
                            value: FLAG_UNREACHABLE,
                        },
                        Operator::GlobalSet {
                            global_index: self.globals.flag,
                        },
                        Operator::Unreachable,
                    ],
                );
            } else {
                state.push_operator(op);
            }
            if is_loop {
                self.check(state);
                self.stop_check(state);
            }
            if reload {
                self.load(state);
            }
            return Ok(());
        }
        state.push_operator(op);
        Ok(())
    }
}

// The scratch global is i32: Wasmer has no memory64/table64, so every length is an i32.
const _: ValType = ValType::I32;
