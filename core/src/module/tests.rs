use super::*;
use crate::error::Error;
use crate::outcome::Rejection;
use crate::policy::Policy;
use crate::value::ValType;

fn wasm(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap()
}

fn rejection(bytes: &[u8], policy: &Policy) -> (Rejection, String) {
    match check(bytes, policy) {
        Err(Error::Rejected { rejection, message }) => (rejection, message),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn accepts_and_describes_a_module() {
    let m = check(
        &wasm(
            r#"(module
            (import "env" "log" (func (param i32)))
            (memory (export "memory") 1 2)
            (table 3 funcref)
            (global (export "g") (mut i64) (i64.const 0))
            (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
            (func $init)
            (start $init))"#,
        ),
        &Policy::default(),
    )
    .unwrap();
    let info = m.info();
    assert_eq!(info.imports.len(), 1);
    assert_eq!(info.functions, 3);
    assert!(info.has_start);
    assert_eq!(info.memories[0].initial_bytes, 65536);
    assert_eq!(info.memories[0].maximum_bytes, Some(131072));
    assert_eq!(info.tables[0].initial, 3);
    assert_eq!(
        info.export_func("add").unwrap(),
        &FuncType::new([ValType::I32, ValType::I32], [ValType::I32])
    );
    assert_eq!(info.sha256.len(), 64);
}

#[test]
fn malformed_modules_are_invalid() {
    let p = Policy::default();
    let good = wasm("(module (func (export \"f\")))");
    for bytes in [
        Vec::new(),
        b"\0asm".to_vec(),
        b"\0asx\x01\0\0\0".to_vec(),
        b"\0asm\x02\0\0\0".to_vec(),
        good[..good.len() - 2].to_vec(),
        [b"\0asm\x01\0\0\0\x01\xff\xff\xff\xff\x0f".as_slice()].concat(),
        wasm("(module (func (result i32) (i64.const 0)))"),
    ] {
        assert_eq!(
            rejection(&bytes, &p).0,
            Rejection::InvalidModule,
            "{bytes:?}"
        );
    }
}

#[test]
fn disabled_proposals_are_named() {
    let p = Policy::default().with_feature(crate::Proposal::Simd, false);
    let (r, m) = rejection(
        &wasm("(module (func (result v128) (v128.const i64x2 0 0)))"),
        &p,
    );
    assert_eq!(r, Rejection::FeatureDisabled);
    assert!(m.contains("features.simd"), "{m}");
    let (r, m) = rejection(&wasm("(module (memory 1 1 shared))"), &Policy::default());
    assert_eq!(r, Rejection::FeatureDisabled);
    assert!(m.contains("features.threads"), "{m}");
    let (r, m) = rejection(&wasm("(module (func (return_call 0)))"), &Policy::default());
    assert_eq!(r, Rejection::FeatureDisabled);
    assert!(m.contains("tail_call"), "{m}");
    let (r, m) = rejection(&wasm("(module (memory i64 1))"), &Policy::default());
    assert_eq!(r, Rejection::FeatureDisabled);
    assert!(m.contains("memory64"), "{m}");
}

#[test]
fn static_limits() {
    let p = Policy::default().with_max_memory(1 << 20);
    let cases = [
        ("(module (memory 17))", "max_memory"),
        ("(module (import \"a\" \"m\" (memory 100)))", "max_memory"),
        ("(module (table 10001 funcref))", "max_table_elements"),
        ("(module (memory 1) (memory 1))", "max_memories"),
        ("(module (table 1 funcref) (table 1 funcref))", "max_tables"),
    ];
    let p = p.with_feature(crate::Proposal::MultiMemory, true);
    for (text, limit) in cases {
        let (r, m) = rejection(&wasm(text), &p);
        assert_eq!(r, Rejection::LimitExceeded, "{text}");
        assert!(m.contains(limit), "{text}: {m}");
    }
    assert!(
        check(&wasm("(module (memory 16))"), &p).is_ok(),
        "exactly at the cap"
    );
}

#[test]
fn compile_bomb_guards() {
    let mut p = Policy::default();
    p.limits.max_nesting = 10;
    p.limits.max_locals = 5;
    p.limits.max_functions = 3;
    p.limits.max_data_segments = 2;
    p.limits.max_module_size = crate::Size(200);
    let deep = format!(
        "(module (func {} {}))",
        "(block ".repeat(11),
        ")".repeat(11)
    );
    assert!(rejection(&wasm(&deep), &p).1.contains("max_nesting"));
    assert!(
        check(
            &wasm(&format!(
                "(module (func {} {}))",
                "(block ".repeat(9),
                ")".repeat(9)
            )),
            &p
        )
        .is_ok()
    );
    assert!(
        rejection(&wasm("(module (func (local i32 i32 i32 i32 i32 i32)))"), &p)
            .1
            .contains("max_locals")
    );
    assert!(
        rejection(&wasm("(module (func) (func) (func) (func))"), &p)
            .1
            .contains("max_functions")
    );
    assert!(
        rejection(&wasm("(module (memory 1) (data (i32.const 0) \"a\") (data (i32.const 1) \"b\") (data (i32.const 2) \"c\"))"), &p)
            .1
            .contains("max_data_segments")
    );
    assert!(rejection(&vec![0u8; 201], &p).1.contains("max_module_size"));
    // `len()` counts the targets without the default label.
    let targets = "0 ".repeat(MAX_BR_TABLE_TARGETS + 2);
    let big = wasm(&format!(
        "(module (func (param i32) (block (br_table {targets} (local.get 0)))))"
    ));
    let (r, m) = rejection(&big, &Policy::preset(crate::Preset::Permissive));
    assert_eq!(r, Rejection::LimitExceeded);
    assert!(m.contains("br_table"), "{m}");
}

#[test]
fn components_are_not_modules() {
    let (r, m) = rejection(
        &wasm("(component)"),
        &Policy::preset(crate::Preset::Permissive),
    );
    assert_eq!(r, Rejection::InvalidModule);
    assert!(m.contains("component"), "{m}");
}

#[test]
fn features_used_finds_the_minimum() {
    let p = Policy::preset(crate::Preset::Permissive);
    let used = features_used(
        &wasm("(module (func (result v128) (v128.const i64x2 0 0)))"),
        &p.features,
    )
    .unwrap();
    assert_eq!(used, [crate::Proposal::Simd]);
    let used = features_used(&wasm("(module (func))"), &p.features).unwrap();
    assert!(used.is_empty(), "{used:?}");
}

#[test]
fn load_refuses_huge_files() {
    let dir = std::env::temp_dir().join(format!("cage-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("big.wasm");
    let mut bytes = b"\0asm\x01\0\0\0".to_vec();
    bytes.resize(1000, 0);
    std::fs::write(&f, &bytes).unwrap();
    let e = load(&f, 500).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Rejected {
                rejection: Rejection::LimitExceeded,
                ..
            }
        ),
        "{e:?}"
    );
    // A file that cannot be read is the host's problem, not a verdict on a module.
    let e = load(&dir.join("missing.wat"), 500).unwrap_err();
    assert_eq!(
        e.as_host_failure(),
        Some(crate::outcome::HostFailure::Filesystem),
        "{e:?}"
    );
    // A `.wasm` that is not one says so, with its first bytes.
    std::fs::write(dir.join("elf.wasm"), b"\x7fELF\x02\x01").unwrap();
    let e = load(&dir.join("elf.wasm"), 500).unwrap_err();
    assert_eq!(e.as_rejection(), Some(Rejection::InvalidModule));
    let m = e.message().unwrap_or_default();
    assert!(
        m.contains("not a WebAssembly module") && m.contains("7f 45 4c 46"),
        "{m}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
