//! The spec testsuite's `spectest` module, provided to a guest through Cage's API.
//!
//! Cage gives guests host *functions* only; a sandbox never shares globals, memories or tables
//! with the host or with another instance. The spec testsuite's `spectest` module also exports
//! globals, a table and memories, so a module that imports those is rewritten before it is
//! checked: each such import becomes a definition with the same limits and value (`global_i32`
//! = 666, `table` = 10..20 funcrefs, `memory` = 1..2 pages, `shared_memory` the same, shared),
//! and every constant expression that
//! reads such a global reads the constant instead (a WebAssembly 2.0 constant expression may
//! only read imported globals). Imports from other modules (`register`ed instances) cannot be
//! provided: such a module is skipped, with that reason.

use std::ops::Range;

use cage_core::{FuncType, HostFunc, HostFunctions, ValType, Value};
use wasm_encoder::Encode;
use wasmparser::{
    ConstExpr, DataKind, ElementItems, ElementKind, Imports, Operator, Parser, Payload, RefType,
    TypeRef,
};

/// The `spectest` host functions (`print*`: they print nothing, as in the reference
/// interpreter's quiet mode).
pub fn host_functions() -> HostFunctions {
    use ValType::{F32, F64, I32, I64};
    let m = "spectest";
    let print = |name: &str, params: Vec<ValType>| {
        HostFunc::new(m, name, FuncType::new(params, []), |_, _| Ok(vec![]))
    };
    HostFunctions::new()
        .with(print("print", vec![]))
        .with(print("print_i32", vec![I32]))
        .with(print("print_i64", vec![I64]))
        .with(print("print_f32", vec![F32]))
        .with(print("print_f64", vec![F64]))
        .with(print("print_i32_f32", vec![I32, F32]))
        .with(print("print_f64_f64", vec![F64, F64]))
}

/// Why a module could not be linked against `spectest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// An import `spectest` does not have, or with an incompatible type: the module is
    /// unlinkable.
    Unlinkable(String),
    /// An import from another module: needs cross-instance linking, which Cage does not offer.
    Foreign(String),
    /// The module could not be parsed (core's validation reports it).
    Malformed,
}

/// A `spectest` global: value type byte and the constant that initialises it.
fn spectest_global(name: &str) -> Option<(wasmparser::ValType, Value)> {
    use wasmparser::ValType as V;
    Some(match name {
        "global_i32" => (V::I32, Value::I32(666)),
        "global_i64" => (V::I64, Value::I64(666)),
        "global_f32" => (V::F32, Value::f32(666.6)),
        "global_f64" => (V::F64, Value::f64(666.6)),
        _ => return None,
    })
}

/// The constant instruction (without `end`) that produces `v`.
fn const_instr(v: Value) -> Vec<u8> {
    let mut out = Vec::new();
    match v {
        Value::I32(x) => {
            out.push(0x41);
            i64::from(x).encode(&mut out);
        }
        Value::I64(x) => {
            out.push(0x42);
            x.encode(&mut out);
        }
        Value::F32(b) => {
            out.push(0x43);
            out.extend_from_slice(&b.to_le_bytes());
        }
        Value::F64(b) => {
            out.push(0x44);
            out.extend_from_slice(&b.to_le_bytes());
        }
        _ => unreachable!("spectest globals are numbers"),
    }
    out
}

/// Section order of the non-custom sections (tag sits between memory and global).
fn order(id: u8) -> u8 {
    match id {
        1..=5 => id,
        13 => 6,
        6..=9 => id + 1,
        12 => 11,
        10 => 12,
        11 => 13,
        _ => 0,
    }
}

/// Replaces each `global.get k` of a converted global with its constant.
fn rewrite_expr(
    expr: &ConstExpr<'_>,
    globals: &[Value],
    splices: &mut Vec<(Range<usize>, Vec<u8>)>,
) -> Option<()> {
    let mut ops = expr.get_operators_reader();
    loop {
        let at = ops.original_position();
        let op = ops.read().ok()?;
        let end = ops.original_position();
        match op {
            Operator::GlobalGet { global_index } => {
                if let Some(v) = globals.get(global_index as usize) {
                    splices.push((at..end, const_instr(*v)));
                }
            }
            Operator::End if ops.eof() => return Some(()),
            _ => {}
        }
    }
}

/// Rewrites `bytes` so that its `spectest` globals, table and memory are its own definitions.
/// Returns the bytes unchanged when it imports none.
///
/// # Errors
/// See [`LinkError`].
pub fn link(bytes: &[u8]) -> Result<Vec<u8>, LinkError> {
    let mut sections: Vec<(u8, Range<usize>)> = Vec::new();
    let mut kept_imports: Vec<Range<usize>> = Vec::new();
    let mut import_count = 0usize;
    let mut globals: Vec<Value> = Vec::new();
    let mut global_defs: Vec<u8> = Vec::new();
    let mut table_defs: Vec<u8> = Vec::new();
    let mut memory_defs: Vec<u8> = Vec::new();
    let (mut n_tables, mut n_memories) = (0u32, 0u32);
    let mut splices: Vec<(Range<usize>, Vec<u8>)> = Vec::new();
    let mut import_section: Option<Range<usize>> = None;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|_| LinkError::Malformed)?;
        if let Some((id, range)) = payload.as_section() {
            sections.push((id, range));
        }
        match payload {
            Payload::ImportSection(reader) => {
                import_section = Some(reader.range());
                let end = reader.range().end;
                let entries: Vec<_> = reader
                    .into_iter_with_offsets()
                    .collect::<Result<_, _>>()
                    .map_err(|_| LinkError::Malformed)?;
                for (i, (at, imports)) in entries.iter().enumerate() {
                    let next = entries.get(i + 1).map_or(end, |(o, _)| *o);
                    let Imports::Single(_, imp) = imports else {
                        return Err(LinkError::Unlinkable("compact imports".into()));
                    };
                    if imp.module != "spectest" {
                        return Err(LinkError::Foreign(imp.module.to_owned()));
                    }
                    match imp.ty {
                        TypeRef::Func(_) | TypeRef::FuncExact(_) => {
                            kept_imports.push(*at..next);
                            import_count += 1;
                        }
                        TypeRef::Global(g) => {
                            let (ty, v) = spectest_global(imp.name).ok_or_else(|| {
                                LinkError::Unlinkable(format!(
                                    "unknown import spectest.{}",
                                    imp.name
                                ))
                            })?;
                            if g.mutable || g.content_type != ty || g.shared {
                                return Err(LinkError::Unlinkable(format!(
                                    "incompatible import type for spectest.{}",
                                    imp.name
                                )));
                            }
                            global_defs.push(match ty {
                                wasmparser::ValType::I32 => 0x7f,
                                wasmparser::ValType::I64 => 0x7e,
                                wasmparser::ValType::F32 => 0x7d,
                                _ => 0x7c,
                            });
                            global_defs.push(0x00);
                            global_defs.extend(const_instr(v));
                            global_defs.push(0x0b);
                            globals.push(v);
                        }
                        TypeRef::Table(t) => {
                            let ok = imp.name == "table"
                                && t.element_type == RefType::FUNCREF
                                && !t.table64
                                && !t.shared
                                && t.initial <= 10
                                && t.maximum.is_none_or(|m| m >= 20);
                            if !ok {
                                return Err(LinkError::Unlinkable(format!(
                                    "incompatible import spectest.{}",
                                    imp.name
                                )));
                            }
                            table_defs.extend([0x70, 0x01, 10, 20]);
                            n_tables += 1;
                        }
                        TypeRef::Memory(m) => {
                            // `memory`: 1..2 pages; `shared_memory` (threads): 1..2 pages,
                            // shared. Both must be asked for with a maximum of at least 2
                            // (and `shared_memory` with exactly `shared`).
                            let shared = imp.name == "shared_memory";
                            let ok = (imp.name == "memory" || shared)
                                && !m.memory64
                                && m.shared == shared
                                && m.page_size_log2.is_none()
                                && m.initial <= 1
                                && m.maximum.is_none_or(|x| x >= 2)
                                && (!shared || m.maximum.is_some());
                            if !ok {
                                return Err(LinkError::Unlinkable(format!(
                                    "incompatible import spectest.{}",
                                    imp.name
                                )));
                            }
                            // limits flag 0x03: shared with a maximum.
                            memory_defs.extend([if shared { 0x03 } else { 0x01 }, 1, 2]);
                            n_memories += 1;
                        }
                        TypeRef::Tag(_) => {
                            return Err(LinkError::Unlinkable(format!(
                                "unknown import spectest.{}",
                                imp.name
                            )));
                        }
                    }
                }
            }
            Payload::GlobalSection(reader) if !globals.is_empty() => {
                for g in reader {
                    let g = g.map_err(|_| LinkError::Malformed)?;
                    rewrite_expr(&g.init_expr, &globals, &mut splices)
                        .ok_or(LinkError::Malformed)?;
                }
            }
            Payload::ElementSection(reader) if !globals.is_empty() => {
                for e in reader {
                    let e = e.map_err(|_| LinkError::Malformed)?;
                    if let ElementKind::Active { offset_expr, .. } = &e.kind {
                        rewrite_expr(offset_expr, &globals, &mut splices)
                            .ok_or(LinkError::Malformed)?;
                    }
                    if let ElementItems::Expressions(_, items) = e.items {
                        for item in items {
                            let item = item.map_err(|_| LinkError::Malformed)?;
                            rewrite_expr(&item, &globals, &mut splices)
                                .ok_or(LinkError::Malformed)?;
                        }
                    }
                }
            }
            Payload::DataSection(reader) if !globals.is_empty() => {
                for d in reader {
                    let d = d.map_err(|_| LinkError::Malformed)?;
                    if let DataKind::Active { offset_expr, .. } = &d.kind {
                        rewrite_expr(offset_expr, &globals, &mut splices)
                            .ok_or(LinkError::Malformed)?;
                    }
                }
            }
            _ => {}
        }
    }
    let (n_globals, converted) = (
        globals.len() as u32,
        !globals.is_empty() || n_tables > 0 || n_memories > 0,
    );
    if !converted {
        return Ok(bytes.to_vec());
    }

    // Section contents, rebuilt.
    let content = |range: &Range<usize>| -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = range.start;
        for (r, with) in splices
            .iter()
            .filter(|(r, _)| r.start >= range.start && r.end <= range.end)
        {
            out.extend_from_slice(&bytes[at..r.start]);
            out.extend_from_slice(with);
            at = r.end;
        }
        out.extend_from_slice(&bytes[at..range.end]);
        out
    };
    // A vector section with `defs` (`n` entries) put in front of its existing entries.
    let prepend = |old: Option<Vec<u8>>, n: u32, defs: &[u8]| -> Result<Vec<u8>, LinkError> {
        let (count, rest) = match &old {
            Some(c) => {
                let mut r = wasmparser::BinaryReader::new(c, 0);
                let count = r.read_var_u32().map_err(|_| LinkError::Malformed)?;
                (count, &c[r.original_position()..])
            }
            None => (0, &[][..]),
        };
        let mut out = Vec::new();
        (count + n).encode(&mut out);
        out.extend_from_slice(defs);
        out.extend_from_slice(rest);
        Ok(out)
    };
    let mut rebuilt: Vec<(u8, Vec<u8>)> = Vec::new();
    for (id, range) in &sections {
        let body = if Some(range) == import_section.as_ref() {
            let mut out = Vec::new();
            (import_count as u32).encode(&mut out);
            for r in &kept_imports {
                out.extend_from_slice(&bytes[r.clone()]);
            }
            out
        } else {
            content(range)
        };
        rebuilt.push((*id, body));
    }
    for (id, n, defs) in [
        (4u8, n_tables, &table_defs),
        (5, n_memories, &memory_defs),
        (6, n_globals, &global_defs),
    ] {
        if n == 0 {
            continue;
        }
        match rebuilt.iter().position(|(i, _)| *i == id) {
            Some(p) => {
                let old = std::mem::take(&mut rebuilt[p].1);
                rebuilt[p].1 = prepend(Some(old), n, defs)?;
            }
            None => {
                let at = rebuilt
                    .iter()
                    .position(|(i, _)| *i != 0 && order(*i) > order(id))
                    .unwrap_or(rebuilt.len());
                rebuilt.insert(at, (id, prepend(None, n, defs)?));
            }
        }
    }
    let mut out = bytes[..8].to_vec();
    for (id, body) in rebuilt {
        out.push(id);
        (body.len() as u32).encode(&mut out);
        out.extend(body);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wat(s: &str) -> Vec<u8> {
        wat::parse_str(s).expect("valid text")
    }

    #[test]
    fn globals_tables_and_memories_become_definitions() {
        let bytes = wat(r#"(module
            (import "spectest" "print_i32" (func (param i32)))
            (import "spectest" "global_i32" (global $g i32))
            (import "spectest" "table" (table 10 funcref))
            (import "spectest" "memory" (memory 1))
            (global (export "copy") i32 (global.get $g))
            (data (global.get $g) "x")
            (func (export "g") (result i32) global.get $g))"#);
        let linked = link(&bytes).expect("links");
        let policy = cage_core::Policy::default();
        let checked = cage_core::check(&linked, &policy).expect("valid after linking");
        let info = checked.info();
        assert_eq!(info.imports.len(), 1, "only the function import is left");
        assert_eq!(info.memories.len(), 1);
        assert_eq!(info.tables.len(), 1);
    }

    #[test]
    fn incompatible_and_foreign_imports_are_refused() {
        let mutable = wat(r#"(module (import "spectest" "global_i32" (global (mut i32))))"#);
        assert!(matches!(link(&mutable), Err(LinkError::Unlinkable(_))));
        let big = wat(r#"(module (import "spectest" "memory" (memory 2)))"#);
        assert!(matches!(link(&big), Err(LinkError::Unlinkable(_))));
        let foreign = wat(r#"(module (import "M" "f" (func)))"#);
        assert_eq!(link(&foreign), Err(LinkError::Foreign("M".into())));
        let plain = wat("(module)");
        assert_eq!(link(&plain).expect("links"), plain);
    }
}
