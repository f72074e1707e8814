//! What a module asks of the static limits, measured all at once: the quantity each static
//! `[limits]` key bounds, so that a tool can list every limit a module exceeds (and by how much)
//! instead of the first one [`super::check`] stops at.

use serde::Serialize;
use wasmparser::{
    FuncValidatorAllocations, Parser, Payload, ValidPayload, Validator, WasmFeatures,
};

use super::check::describe;
use crate::error::Error;
use crate::outcome::Rejection;
use crate::policy::{Limits, Size};

/// The module's value of every quantity a static limit bounds, measured the way
/// [`super::check`] measures it (so `needs.exceeded(limits)` is empty exactly when the check
/// passes every static limit).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StaticNeeds {
    /// Bytes of the module binary (`max_module_size`).
    pub module_size: u64,
    /// Memories, imported and defined (`max_memories`).
    pub memories: u64,
    /// The largest initial size of a memory, in bytes (`max_memory`).
    pub largest_initial_memory: u64,
    /// Tables, imported and defined (`max_tables`).
    pub tables: u64,
    /// The largest initial size of a table, in elements (`max_table_elements`).
    pub largest_initial_table: u64,
    /// Functions, imported and defined (`max_functions`).
    pub functions: u64,
    /// The largest function body, in bytes (`max_function_size`).
    pub largest_function: u64,
    /// The most locals of one function, parameters included (`max_locals`).
    pub most_locals: u64,
    /// The deepest nesting of blocks in one function, as the validator counts it
    /// (`max_nesting`).
    pub deepest_nesting: u64,
    /// Data segments (`max_data_segments`).
    pub data_segments: u64,
}

/// One static limit a module exceeds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Exceeded {
    /// The `[limits]` key, e.g. `max_data_segments`.
    pub key: &'static str,
    /// What the module needs: the smallest value of the key that admits it.
    pub needed: u64,
    /// The limit in force.
    pub limit: u64,
    /// Whether the key is a size in bytes (written `"26 MiB"`) rather than a count.
    pub is_size: bool,
    /// What the module has, in words: `24171 data segments`.
    pub what: String,
}

impl Exceeded {
    /// `value` as the key takes it in a policy file or `--limit`: a count, or a size in bytes
    /// (rounded up to a whole KiB or MiB where that reads better).
    pub fn format_value(&self, value: u64) -> String {
        if self.is_size {
            Size(value).to_string()
        } else {
            value.to_string()
        }
    }

    /// The smallest value that admits the module, written as the key takes it: sizes rounded
    /// up to a whole KiB (below 10 MiB) or MiB, so that the suggestion is readable.
    pub fn suggestion(&self) -> String {
        if self.is_size {
            let unit: u64 = if self.needed >= 10 << 20 {
                1 << 20
            } else {
                1 << 10
            };
            Size(self.needed.div_ceil(unit).saturating_mul(unit)).to_string()
        } else {
            self.needed.to_string()
        }
    }
}

impl StaticNeeds {
    /// Every static limit of `limits` the module exceeds, in the order of the limits table.
    pub fn exceeded(&self, limits: &Limits) -> Vec<Exceeded> {
        let rows: [(&'static str, u64, u64, bool, String); 10] = [
            (
                "max_module_size",
                self.module_size,
                limits.max_module_size.bytes(),
                true,
                format!("{} bytes", self.module_size),
            ),
            (
                "max_memory",
                self.largest_initial_memory,
                limits.max_memory.bytes(),
                true,
                format!(
                    "a memory of {} bytes initially",
                    self.largest_initial_memory
                ),
            ),
            (
                "max_table_elements",
                self.largest_initial_table,
                limits.max_table_elements,
                false,
                format!(
                    "a table of {} elements initially",
                    self.largest_initial_table
                ),
            ),
            (
                "max_memories",
                self.memories,
                u64::from(limits.max_memories),
                false,
                format!("{} memories", self.memories),
            ),
            (
                "max_tables",
                self.tables,
                u64::from(limits.max_tables),
                false,
                format!("{} tables", self.tables),
            ),
            (
                "max_functions",
                self.functions,
                u64::from(limits.max_functions),
                false,
                format!("{} functions", self.functions),
            ),
            (
                "max_function_size",
                self.largest_function,
                limits.max_function_size.bytes(),
                true,
                format!("a function body of {} bytes", self.largest_function),
            ),
            (
                "max_locals",
                self.most_locals,
                u64::from(limits.max_locals),
                false,
                format!("a function with {} locals", self.most_locals),
            ),
            (
                "max_nesting",
                self.deepest_nesting,
                u64::from(limits.max_nesting),
                false,
                format!("blocks nested {} deep", self.deepest_nesting),
            ),
            (
                "max_data_segments",
                self.data_segments,
                u64::from(limits.max_data_segments),
                false,
                format!("{} data segments", self.data_segments),
            ),
        ];
        rows.into_iter()
            .filter(|(_, needed, limit, _, _)| needed > limit)
            .map(|(key, needed, limit, is_size, what)| Exceeded {
                key,
                needed,
                limit,
                is_size,
                what,
            })
            .collect()
    }
}

/// Measures every quantity a static limit bounds, with every proposal allowed and no limit
/// applied (so a module far over several limits is measured in full).
///
/// # Errors
/// `rejected: invalid_module` when the module is invalid under every proposal.
pub fn static_needs(bytes: &[u8]) -> Result<StaticNeeds, Error> {
    let info = describe(bytes)?;
    let mut needs = StaticNeeds {
        module_size: bytes.len() as u64,
        memories: info.memories.len() as u64,
        largest_initial_memory: info
            .memories
            .iter()
            .map(|m| m.initial_bytes)
            .max()
            .unwrap_or(0),
        tables: info.tables.len() as u64,
        largest_initial_table: info.tables.iter().map(|t| t.initial).max().unwrap_or(0),
        functions: u64::from(info.functions),
        ..StaticNeeds::default()
    };
    let invalid =
        |e: wasmparser::BinaryReaderError| Error::reject(Rejection::InvalidModule, e.to_string());
    let mut validator = Validator::new_with_features(WasmFeatures::all());
    let mut allocs = FuncValidatorAllocations::default();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(invalid)?;
        if let Payload::DataSection(r) = &payload {
            needs.data_segments += u64::from(r.count());
        }
        if let ValidPayload::Func(to_validate, body) =
            validator.payload(&payload).map_err(invalid)?
        {
            needs.largest_function = needs.largest_function.max(body.range().len() as u64);
            let mut func = to_validate.into_validator(std::mem::take(&mut allocs));
            let mut reader = body.get_binary_reader();
            func.read_locals(&mut reader).map_err(invalid)?;
            needs.most_locals = needs.most_locals.max(u64::from(func.len_locals()));
            let mut ops = wasmparser::OperatorsReader::new(reader);
            while !ops.eof() {
                let (op, offset) = ops.read_with_offset().map_err(invalid)?;
                func.op(offset, &op).map_err(invalid)?;
                needs.deepest_nesting = needs
                    .deepest_nesting
                    .max(func.control_stack_height() as u64);
            }
            ops.finish().map_err(invalid)?;
            allocs = func.into_allocations();
        }
    }
    Ok(needs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    #[test]
    fn every_exceeded_limit_is_listed_and_matches_the_check() {
        let mut text =
            String::from("(module (memory 2) (func (local i32 i32 i32) (block (block nop)))");
        for i in 0..12 {
            text.push_str(&format!(" (data (i32.const {i}) \"x\")"));
        }
        text.push(')');
        let wasm = wat::parse_str(&text).unwrap();
        let needs = static_needs(&wasm).unwrap();
        assert_eq!(needs.data_segments, 12);
        assert_eq!(needs.most_locals, 3);
        assert_eq!(needs.largest_initial_memory, 2 * 65536);
        assert!(needs.deepest_nesting >= 3, "{needs:?}");
        let mut policy = Policy::default();
        assert!(needs.exceeded(&policy.limits).is_empty());
        assert!(crate::check(&wasm, &policy).is_ok());
        policy.limits.max_data_segments = 11;
        policy.limits.max_memory = Size(65536);
        policy.limits.max_locals = 2;
        let over = needs.exceeded(&policy.limits);
        let keys: Vec<&str> = over.iter().map(|e| e.key).collect();
        assert_eq!(keys, ["max_memory", "max_locals", "max_data_segments"]);
        assert_eq!(over[2].needed, 12);
        assert_eq!(over[0].suggestion(), "128 KiB");
        // The check agrees: it stops at one of them.
        assert!(crate::check(&wasm, &policy).is_err());
        // Each limit exactly at the module's need admits it, as the check does.
        policy.limits.max_data_segments = 12;
        policy.limits.max_memory = Size(2 * 65536);
        policy.limits.max_locals = 3;
        policy.limits.max_nesting = u32::try_from(needs.deepest_nesting).unwrap();
        assert!(needs.exceeded(&policy.limits).is_empty());
        assert!(crate::check(&wasm, &policy).is_ok());
        policy.limits.max_nesting -= 1;
        assert_eq!(needs.exceeded(&policy.limits)[0].key, "max_nesting");
        assert!(crate::check(&wasm, &policy).is_err());
    }
}
