//! Many tenants in one process, through WASI: a sandbox that exhausts its descriptors
//! (`limits.max_open_files`), its disk quota (`limits.max_disk_write`) and its file creations
//! (`limits.max_files_created`) gets the errno of each limit, and another sandbox in the same
//! process keeps opening, creating and writing files, unaffected, on every runtime. The process
//! budget's descriptors are charged while files are open and given back when they are closed.

use cage::policy::{Dir, DirMode};
use cage::{DynSandbox, HostFunctions, Invocation, Policy, Size, Value};

/// Exports, each returning `errno * 1_000_000 + count` (errno 0 when the loop ran out):
/// - `open_loop`: opens `file.txt` (created by `write_loop` or `touch`) until an open fails;
/// - `write_loop`: writes 4 KiB chunks to a new file `out` until a write fails; counts KiB;
/// - `create_loop`: creates directories `d0000`… until one fails;
/// - `touch`: creates `file.txt`, writes 3 bytes, closes it; returns the first errno.
const GUEST: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory" (func $mkdir (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "file.txt")
  (data (i32.const 1100) "out")
  (data (i32.const 1200) "d0000")
  (func $result (param $errno i32) (param $n i32) (result i64)
    (i64.add (i64.mul (i64.extend_i32_u (local.get $errno)) (i64.const 1000000)) (i64.extend_i32_u (local.get $n))))
  (func (export "touch") (result i64) (local $r i32) (local $fd i32)
    (local.set $r (call $open (i32.const 3) (i32.const 0) (i32.const 1024) (i32.const 8)
      (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 0)))
    (if (local.get $r) (then (return (call $result (local.get $r) (i32.const 0)))))
    (local.set $fd (i32.load (i32.const 0)))
    (i32.store (i32.const 16) (i32.const 1024))
    (i32.store (i32.const 20) (i32.const 3))
    (local.set $r (call $write (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 32)))
    (if (local.get $r) (then (return (call $result (local.get $r) (i32.const 1)))))
    (call $result (call $close (local.get $fd)) (i32.const 2)))
  (func (export "open_loop") (result i64) (local $r i32) (local $n i32)
    (block $done
      (loop $l
        (local.set $r (call $open (i32.const 3) (i32.const 0) (i32.const 1024) (i32.const 8)
          (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0)))
        (br_if $done (local.get $r))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $n) (i32.const 100000)))))
    (call $result (local.get $r) (local.get $n)))
  (func (export "write_loop") (result i64) (local $r i32) (local $fd i32) (local $kib i32)
    (local.set $r (call $open (i32.const 3) (i32.const 0) (i32.const 1100) (i32.const 3)
      (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 0)))
    (if (local.get $r) (then (return (call $result (local.get $r) (i32.const 0)))))
    (local.set $fd (i32.load (i32.const 0)))
    (i32.store (i32.const 16) (i32.const 4096))
    (i32.store (i32.const 20) (i32.const 4096))
    (block $done
      (loop $l
        (local.set $r (call $write (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 32)))
        (br_if $done (local.get $r))
        (local.set $kib (i32.add (local.get $kib) (i32.shr_u (i32.load (i32.const 32)) (i32.const 10))))
        (br_if $l (i32.lt_u (local.get $kib) (i32.const 1000000)))))
    (drop (call $close (local.get $fd)))
    (call $result (local.get $r) (local.get $kib)))
  (func (export "create_loop") (result i64) (local $r i32) (local $n i32)
    (block $done
      (loop $l
        (i32.store8 (i32.const 1203) (i32.add (i32.const 48) (i32.rem_u (i32.div_u (local.get $n) (i32.const 10)) (i32.const 10))))
        (i32.store8 (i32.const 1204) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
        (i32.store8 (i32.const 1202) (i32.add (i32.const 48) (i32.rem_u (i32.div_u (local.get $n) (i32.const 100)) (i32.const 10))))
        (local.set $r (call $mkdir (i32.const 3) (i32.const 1200) (i32.const 5)))
        (br_if $done (local.get $r))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $n) (i32.const 1000)))))
    (call $result (local.get $r) (local.get $n))))"#;

const EMFILE: i64 = 33;
const ENOSPC: i64 = 51;
const EDQUOT: i64 = 19;

fn policy(dir: &std::path::Path) -> Policy {
    let mut p = Policy::default();
    p.limits.max_open_files = 16;
    p.limits.max_disk_write = Size::kib(64);
    p.limits.max_files_created = 10;
    p.wasi.dirs.push(Dir::new(dir, "/data", DirMode::Rw));
    p
}

fn call(sb: &mut Box<dyn DynSandbox>, export: &str) -> (i64, i64) {
    match sb.call(export, &[]).unwrap()[..] {
        [Value::I64(r)] => (r / 1_000_000, r % 1_000_000),
        ref other => panic!("{export} returned {other:?}"),
    }
}

#[test]
fn one_tenant_exhausting_its_files_leaves_the_others_working() {
    let bytes = wat::parse_str(GUEST).unwrap();
    let host = HostFunctions::new();
    for name in cage::available_runtimes() {
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (pa, pb) = (policy(a_dir.path()), policy(b_dir.path()));
        cage::on_guest_thread(&pa, || {
            let rt_a = cage::runtime_named(name, &pa).unwrap();
            let rt_b = cage::runtime_named(name, &pb).unwrap();
            let ca = cage::prepare(rt_a.as_ref(), &bytes, &host, &Invocation::Instantiate).unwrap();
            let cb = cage::prepare(rt_b.as_ref(), &bytes, &host, &Invocation::Instantiate).unwrap();
            let (ma, mb) = (
                rt_a.compile_dyn(&ca, &host).unwrap(),
                rt_b.compile_dyn(&cb, &host).unwrap(),
            );
            let mut a = ma.sandbox().unwrap();
            let mut b = mb.sandbox().unwrap();
            a.instantiate().unwrap();
            b.instantiate().unwrap();
            let held = cage::process_usage().descriptors;

            // Tenant A takes everything it may: disk, creations, then descriptors.
            assert_eq!(call(&mut a, "touch"), (0, 2), "{name}");
            assert_eq!(
                call(&mut a, "write_loop"),
                (ENOSPC, 64 - 1),
                "{name}: after the 3 bytes of file.txt, 15 writes of 4 KiB fit the 64 KiB quota, \
                 the 16th is cut short to the 4 093 bytes left (3 KiB in whole KiB), the 17th \
                 fails with ENOSPC"
            );
            assert_eq!(
                std::fs::metadata(a_dir.path().join("out")).unwrap().len(),
                64 * 1024 - 3,
                "{name}: the quota counts bytes, not writes"
            );
            // file.txt and out were created: 8 more of its 10 creations.
            assert_eq!(call(&mut a, "create_loop"), (EDQUOT, 8), "{name}");
            assert!(std::fs::metadata(a_dir.path().join("d0008")).is_err());
            // stdio (3) and the preopen (1) are held: 12 opens, then EMFILE.
            assert_eq!(call(&mut a, "open_loop"), (EMFILE, 12), "{name}");
            assert_eq!(
                cage::process_usage().descriptors,
                held + 12,
                "{name}: every open file is charged to the process budget"
            );
            // Its descriptors are all taken: even a write needs one.
            assert_eq!(call(&mut a, "write_loop"), (EMFILE, 0), "{name}");

            // Tenant B, with A exhausted and still holding its files, opens, creates and
            // writes, up to its own limits: the whole of its quota, its creations and its
            // descriptors.
            assert_eq!(call(&mut b, "touch"), (0, 2), "{name}");
            assert_eq!(call(&mut b, "write_loop"), (ENOSPC, 64 - 1), "{name}");
            assert_eq!(
                std::fs::metadata(b_dir.path().join("out")).unwrap().len(),
                64 * 1024 - 3,
                "{name}"
            );
            assert_eq!(call(&mut b, "create_loop"), (EDQUOT, 8), "{name}");
            assert_eq!(call(&mut b, "open_loop"), (EMFILE, 12), "{name}");
            assert_eq!(cage::process_usage().descriptors, held + 24, "{name}");

            // Dropping a sandbox closes its files and gives their descriptors (its preopen's
            // too) back to the process.
            drop(a);
            assert_eq!(cage::process_usage().descriptors, held + 12 - 1, "{name}");
            drop(b);
            assert_eq!(cage::process_usage().descriptors, held - 2, "{name}");
        })
        .unwrap();
    }
}
