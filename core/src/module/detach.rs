//! Detaching the start function: the binary is rewritten without its start section, and the
//! start function is exported under a reserved name instead. Every backend instantiates the
//! rewritten module (segments only) and then calls that export itself, under the fuel budget
//! and the deadline. So `fuel_consumed` counts exactly the guest's code on every runtime — not a
//! runtime's own instantiation bookkeeping, which differs between runtimes (Wasmtime charges a
//! synthetic start-up function whose cost depends on copy-on-write images and the host page
//! size) — and a trap or fuel exhaustion in the start function is classified like any other.

use wasmparser::{BinaryReader, Parser, Payload};

/// The export name the start function gets, unless the module already uses it.
pub const START_EXPORT: &str = "cage:start";

fn leb(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb(body.len() as u64, out);
    out.extend_from_slice(body);
}

fn export_entry(name: &str, func: u32, out: &mut Vec<u8>) {
    leb(name.len() as u64, out);
    out.extend_from_slice(name.as_bytes());
    out.push(0x00);
    leb(u64::from(func), out);
}

/// Rewrites a *valid* module whose start function should be called by the host. Returns `None`
/// when the module has no start function, else the new binary and the export name.
pub(crate) fn detach_start(bytes: &[u8]) -> Option<(Vec<u8>, String)> {
    let mut start = None;
    let mut names = Vec::new();
    for p in Parser::new(0).parse_all(bytes) {
        match p.ok()? {
            Payload::StartSection { func, .. } => start = Some(func),
            Payload::ExportSection(r) => {
                for e in r {
                    names.push(e.ok()?.name.to_owned());
                }
            }
            _ => {}
        }
    }
    let func = start?;
    let mut name = START_EXPORT.to_owned();
    while names.contains(&name) {
        name.push('_');
    }
    // Walk the raw sections: copy all but the start section; extend the export section, or put a
    // new one where the start section was (export sections precede start sections, so the order
    // stays valid).
    let mut out = bytes[..8].to_vec();
    let mut reader = BinaryReader::new(&bytes[8..], 8);
    let mut exported = false;
    while !reader.eof() {
        let id = reader.read_u8().ok()?;
        let len = reader.read_var_u32().ok()? as usize;
        let body = reader.read_bytes(len).ok()?;
        match id {
            7 => {
                let mut r = BinaryReader::new(body, 0);
                let count = r.read_var_u32().ok()?;
                let rest = &body[r.current_position()..];
                let mut new = Vec::with_capacity(body.len() + name.len() + 8);
                leb(u64::from(count) + 1, &mut new);
                new.extend_from_slice(rest);
                export_entry(&name, func, &mut new);
                section(7, &new, &mut out);
                exported = true;
            }
            8 => {
                if !exported {
                    let mut new = Vec::new();
                    leb(1, &mut new);
                    export_entry(&name, func, &mut new);
                    section(7, &new, &mut out);
                    exported = true;
                }
            }
            _ => section(id, body, &mut out),
        }
    }
    Some((out, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exports(bytes: &[u8]) -> Vec<String> {
        let mut v = Vec::new();
        for p in Parser::new(0).parse_all(bytes) {
            if let Payload::ExportSection(r) = p.unwrap() {
                v.extend(r.into_iter().map(|e| e.unwrap().name.to_owned()));
            }
        }
        v
    }

    #[test]
    fn detaches_with_and_without_an_export_section() {
        for text in [
            "(module (func $s) (start $s))",
            "(module (memory (export \"memory\") 1) (func $s) (func (export \"f\")) (start $s) (data (i32.const 0) \"x\"))",
            "(module (func $s) (func (export \"cage:start\")) (start $s))",
        ] {
            let wasm = wat::parse_str(text).unwrap();
            let (new, name) = detach_start(&wasm).unwrap();
            wasmparser::validate(&new).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(exports(&new).contains(&name));
            assert!(
                !Parser::new(0)
                    .parse_all(&new)
                    .any(|p| matches!(p, Ok(Payload::StartSection { .. })))
            );
        }
        assert!(detach_start(&wat::parse_str("(module)").unwrap()).is_none());
        let (_, name) = detach_start(
            &wat::parse_str("(module (func $s) (func (export \"cage:start\")) (start $s))")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(name, "cage:start_");
    }
}
