//! The process budget's descriptors reach a WASI guest as `ENFILE`: when the descriptors the
//! process keeps for guests (`ProcessBudget::with_descriptors`, less what the rest of the process
//! holds) are all taken, `path_open` answers `ENFILE` (41) before the host opens anything, even
//! though the sandbox's own `limits.max_open_files` is far away; and it opens again once the
//! budget has room. On every runtime. (Its own test binary: the budget is process-wide.)

use cage::policy::{Dir, DirMode};
use cage::{DynSandbox, HostFunctions, Invocation, Policy, ProcessBudget, Value};

/// `open_loop`: opens `file.txt` read-only until an open fails (at most 1 000 times), returns
/// `errno * 1_000_000 + opens`; `open_one`: one open, returns its errno.
const GUEST: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "file.txt")
  (func $open1 (result i32)
    (call $open (i32.const 3) (i32.const 0) (i32.const 1024) (i32.const 8)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0)))
  (func (export "open_one") (result i32) (call $open1))
  (func (export "open_loop") (result i64) (local $r i32) (local $n i32)
    (block $done
      (loop $l
        (local.set $r (call $open1))
        (br_if $done (local.get $r))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $n) (i32.const 1000)))))
    (i64.add (i64.mul (i64.extend_i32_u (local.get $r)) (i64.const 1000000))
      (i64.extend_i32_u (local.get $n)))))"#;

const ENFILE: i64 = 41;
/// The descriptors the test leaves to guests.
const ROOM: u64 = 5;

fn call(sb: &mut Box<dyn DynSandbox>, export: &str) -> i64 {
    match sb.call(export, &[]).unwrap()[..] {
        [Value::I64(r)] => r,
        [Value::I32(r)] => i64::from(r),
        ref other => panic!("{export} returned {other:?}"),
    }
}

#[test]
fn path_open_answers_enfile_when_the_process_budget_has_no_descriptor_left() {
    let bytes = wat::parse_str(GUEST).unwrap();
    let host = HostFunctions::new();
    let generous = cage::process_budget();
    for name in cage::available_runtimes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file.txt"), b"abc").unwrap();
        let mut p = Policy::default();
        p.limits.max_open_files = 1_000;
        p.wasi.dirs.push(Dir::new(dir.path(), "/data", DirMode::Ro));
        cage::on_guest_thread(&p, || {
            let rt = cage::runtime_named(name, &p).unwrap();
            let checked = cage::prepare(rt.as_ref(), &bytes, &host, &Invocation::Instantiate);
            let m = rt.compile_dyn(&checked.unwrap(), &host).unwrap();
            let mut sb = m.sandbox().unwrap();
            sb.instantiate().unwrap();

            // Leave guests ROOM descriptors beyond what Cage and the rest of the process hold.
            cage::budget::remeasure();
            let u = cage::process_usage();
            let limit = u.descriptors + u.others.descriptors + ROOM;
            cage::set_process_budget(ProcessBudget::for_this_machine().with_descriptors(limit));
            let r = call(&mut sb, "open_loop");
            let (errno, opens) = (r / 1_000_000, r % 1_000_000);
            cage::set_process_budget(generous);
            assert_eq!(
                errno, ENFILE,
                "{name}: the process budget refuses with ENFILE, not EMFILE (the sandbox may \
                 hold 1 000) nor EIO; {opens} opens, {u:?}"
            );
            assert!(
                (1..=ROOM as i64).contains(&opens),
                "{name}: {opens} opens with {ROOM} descriptors left"
            );
            // The refusal was an errno, not a trap, and the budget is charged for exactly the
            // files the guest holds: with room again, the same sandbox opens.
            assert_eq!(call(&mut sb, "open_one"), 0, "{name}");
            let charged = cage::process_usage().descriptors;
            drop(sb);
            assert_eq!(
                cage::process_usage().descriptors,
                charged - opens as u64 - 2,
                "{name}: its files and its preopen are given back"
            );
        })
        .unwrap();
    }
}
