;;! [[wasi.dirs]]
;;! host = "fixtures/rw"
;;! guest = "/data"
;;! mode = "rw"
;;! [case]
;;! expect = "exited:0"
;;! description = "sparse growth counts against limits.max_disk_write (1 GiB by default): fd_filestat_set_size(2^40) and a 1-byte fd_pwrite at offset 2^40 both fail with ENOSPC (51) and leave the file empty (exit code: the two errnos otherwise)"
(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_size" (func $set_size (param i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pwrite" (func $pwrite (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_get" (func $stat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "sparse")
  (func (export "_start") (local $r i32) (local $fd i32) (local $a i32) (local $b i32)
    (local.set $r (call $open (i32.const 3) (i32.const 0) (i32.const 1024) (i32.const 6)
      (i32.const 1) (i64.const 0x400040) (i64.const 0) (i32.const 0) (i32.const 0)))
    (if (local.get $r) (then (call $exit (local.get $r))))
    (local.set $fd (i32.load (i32.const 0)))
    (local.set $a (call $set_size (local.get $fd) (i64.const 0x10000000000)))
    (i32.store (i32.const 16) (i32.const 2048))
    (i32.store (i32.const 20) (i32.const 1))
    (local.set $b (call $pwrite (local.get $fd) (i32.const 16) (i32.const 1) (i64.const 0x10000000000) (i32.const 32)))
    (drop (call $stat (local.get $fd) (i32.const 64)))
    (if (i32.and (i32.and (i32.eq (local.get $a) (i32.const 51)) (i32.eq (local.get $b) (i32.const 51)))
                 (i64.eqz (i64.load (i32.const 96))))
      (then (call $exit (i32.const 0))))
    (call $exit (i32.add (i32.mul (local.get $a) (i32.const 100)) (local.get $b)))))
