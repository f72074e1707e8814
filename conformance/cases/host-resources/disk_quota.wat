;;! [limits]
;;! max_disk_write = "1 MiB"
;;! [[wasi.dirs]]
;;! host = "fixtures/rw"
;;! guest = "/data"
;;! mode = "rw"
;;! [case]
;;! expect = "exited:0"
;;! description = "a guest writing 60 000-byte chunks forever under limits.max_disk_write = 1 MiB: the write that crosses the quota is cut short at exactly 1 MiB, the next fails with ENOSPC (51) (exit code 1000 * errno + KiB written otherwise)"
(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 1024) "out")
  (func (export "_start") (local $r i32) (local $fd i32) (local $total i32)
    (local.set $r (call $open (i32.const 3) (i32.const 0) (i32.const 1024) (i32.const 3)
      (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 0)))
    (if (local.get $r) (then (call $exit (local.get $r))))
    (local.set $fd (i32.load (i32.const 0)))
    (i32.store (i32.const 16) (i32.const 2048))
    (i32.store (i32.const 20) (i32.const 60000))
    (block $done
      (loop $l
        (local.set $r (call $write (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 32)))
        (br_if $done (local.get $r))
        (local.set $total (i32.add (local.get $total) (i32.load (i32.const 32))))
        (br $l)))
    (if (i32.and (i32.eq (local.get $r) (i32.const 51)) (i32.eq (local.get $total) (i32.const 1048576)))
      (then (call $exit (i32.const 0))))
    (call $exit (i32.add (i32.mul (local.get $r) (i32.const 1000)) (i32.shr_u (local.get $total) (i32.const 10))))))
