//! The fuel cost model every backend is configured from.
//!
//! The defaults are Wasmtime 48's own: 0 for `nop`, `drop`, `block`, `loop`, `unreachable`,
//! `return`, `else` and `end`; 1 for every other operator; 1 for every function entered (the
//! export called from the host and the start function included); and, for bulk operations whose
//! work depends on an operand, 1 more per byte (`memory.fill`, `memory.copy`, `memory.init`) or
//! per element (`table.fill`, `table.copy`, `table.init`, `table.grow`, the GC array operations).
//! So one `memory.fill` of 1 MiB costs about a million fuel: a guest cannot buy unbounded work
//! with one unit.

use std::collections::BTreeMap;

#[cfg(test)]
use wasmparser::Operator;

/// Fuel charged on entry to every function. Fixed: Wasmtime hard-codes it.
pub const FUNCTION_ENTRY_COST: u64 = 1;

/// Per-unit costs of operators whose work is proportional to a runtime operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
#[non_exhaustive]
pub struct VariableCosts {
    pub memory_copy_per_byte: u8,
    pub memory_fill_per_byte: u8,
    pub memory_init_per_byte: u8,
    pub memory_grow_per_page: u8,
    pub table_copy_per_element: u8,
    pub table_fill_per_element: u8,
    pub table_init_per_element: u8,
    pub table_grow_per_element: u8,
    pub array_copy_per_element: u8,
    pub array_fill_per_element: u8,
    pub array_new_data_per_element: u8,
    pub array_init_data_per_element: u8,
    pub array_new_elem_per_element: u8,
    pub array_init_elem_per_element: u8,
    pub array_new_default_per_element: u8,
    pub array_new_per_element: u8,
}

impl Default for VariableCosts {
    /// Wasmtime 48's defaults: 1 per byte or element, 0 per page of `memory.grow`.
    fn default() -> Self {
        VariableCosts {
            memory_copy_per_byte: 1,
            memory_fill_per_byte: 1,
            memory_init_per_byte: 1,
            memory_grow_per_page: 0,
            table_copy_per_element: 1,
            table_fill_per_element: 1,
            table_init_per_element: 1,
            table_grow_per_element: 1,
            array_copy_per_element: 1,
            array_fill_per_element: 1,
            array_new_data_per_element: 1,
            array_init_data_per_element: 1,
            array_new_elem_per_element: 1,
            array_init_elem_per_element: 1,
            array_new_default_per_element: 1,
            array_new_per_element: 1,
        }
    }
}

/// What a WASI preview 1 call costs the guest, charged by Cage's WASI implementation on every
/// runtime: `call` on entry, then `per_byte` for every byte the host reads from or writes to guest
/// memory (paths, iovec tables, the data of reads and writes, directory entries, random bytes,
/// results). So a WASI call can never do unbounded work for free (the WASI analogue of
/// GHSA-j366-h8gg-77pm).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct WasiCosts {
    /// Fuel charged on entry to every WASI function. Default 100.
    pub call: u64,
    /// Fuel charged per byte copied between guest memory and the host. Default 1.
    pub per_byte: u64,
    /// Fuel charged per directory entry `fd_readdir` reads from the host (once per pass over
    /// the directory, before the next entry is read). Default 100.
    pub per_dir_entry: u64,
    /// Fuel charged per `fd_sync`/`fd_datasync` that flushes (one that follows a change by the
    /// guest since its last flush; otherwise nothing is flushed and only the call is charged).
    /// A flush costs the whole host's disk a journal commit. Default 10 000.
    pub per_sync: u64,
    /// Fuel charged per millisecond a `poll_oneoff` clock subscription asks to wait, before it
    /// waits (with a frozen clock too, where nothing sleeps): time asleep is time the sandbox
    /// holds a host thread. Default 1 000 (a sleeping guest pays about what one computing at
    /// one instruction per microsecond would).
    pub per_ms_waited: u64,
}

impl Default for WasiCosts {
    fn default() -> Self {
        WasiCosts {
            call: 100,
            per_byte: 1,
            per_dir_entry: 100,
            per_sync: 10_000,
            per_ms_waited: 1_000,
        }
    }
}

/// The fuel cost of every operator.
///
/// Operators are named by wasmparser's `Operator` variant names (`I32Add`, `MemoryFill`, ...);
/// [`CostModel::set`] overrides one, everything else keeps the default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct CostModel {
    overrides: BTreeMap<String, u8>,
    /// Per-byte and per-element costs of bulk operations.
    pub variable: VariableCosts,
    /// What WASI calls cost (charged by Cage, identically on every runtime).
    pub wasi: WasiCosts,
}

macro_rules! operator_names {
    ($(@$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        /// Every operator name wasmparser knows.
        pub const OPERATOR_NAMES: &[&str] = &[$(stringify!($op),)*];

        #[cfg(test)]
        fn operator_name(op: &Operator<'_>) -> &'static str {
            match op {
                $(Operator::$op { .. } => stringify!($op),)*
                #[allow(unreachable_patterns)]
                _ => "",
            }
        }
    };
}
wasmparser::for_each_operator!(operator_names);

/// Wasmtime's default flat cost of an operator, by name.
pub fn default_cost(name: &str) -> u8 {
    match name {
        "Nop" | "Drop" | "Block" | "Loop" | "Unreachable" | "Return" | "Else" | "End" => 0,
        _ => 1,
    }
}

impl CostModel {
    /// Overrides the flat cost of the operator named `name`.
    ///
    /// # Errors
    /// A name wasmparser does not know.
    pub fn set(&mut self, name: &str, cost: u8) -> Result<(), String> {
        if !OPERATOR_NAMES.contains(&name) {
            return Err(format!("unknown operator `{name}` in the fuel cost model"));
        }
        self.overrides.insert(name.to_owned(), cost);
        Ok(())
    }

    /// The flat cost of the operator named `name`.
    pub fn cost_by_name(&self, name: &str) -> u8 {
        self.overrides
            .get(name)
            .copied()
            .unwrap_or_else(|| default_cost(name))
    }

    /// The flat cost of `op`.
    #[cfg(test)]
    pub(crate) fn cost(&self, op: &Operator<'_>) -> u8 {
        self.cost_by_name(operator_name(op))
    }

    /// Whether the operator table is Wasmtime's default one (backends may skip configuring it).
    /// WASI costs are charged by Cage itself and do not count.
    pub fn is_default(&self) -> bool {
        self.overrides.iter().all(|(n, c)| default_cost(n) == *c)
            && self.variable == VariableCosts::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_wasmtime() {
        let m = CostModel::default();
        assert_eq!(m.cost(&Operator::Nop), 0);
        assert_eq!(m.cost(&Operator::End), 0);
        assert_eq!(m.cost(&Operator::I32Add), 1);
        assert_eq!(m.cost(&Operator::Call { function_index: 0 }), 1);
        assert_eq!(m.cost_by_name("MemoryFill"), 1);
        assert!(m.is_default());
        assert!(OPERATOR_NAMES.len() > 500);
    }

    #[test]
    fn overrides() {
        let mut m = CostModel::default();
        m.set("I32Mul", 3).unwrap();
        assert_eq!(m.cost(&Operator::I32Mul), 3);
        assert!(!m.is_default());
        assert!(m.set("Teleport", 1).is_err());
    }
}
