;;! [limits]
;;! fuel = 1_000_000
;;! timeout = "5s"
;;! [[wasi.dirs]]
;;! host = "fixtures/rw"
;;! guest = "/data"
;;! mode = "rw"
;;! [case]
;;! expect = "trapped:out_of_fuel"
;;! description = "rewrite one byte of an existing file and fd_datasync it, in a loop: no quota is used (an overwrite), but every flush costs the host's disk a journal commit (about 1.2 ms here, every tenant waits): a flush that follows a change is charged 10 000 fuel (WasiCosts::per_sync), so 1 000 000 fuel buys about 100 flushes, not thousands, and the loop runs out of fuel long before its 5 s deadline"
(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pwrite" (func $pwrite (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_datasync" (func $datasync (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "README.txt")
  (func (export "_start") (local $r i32) (local $fd i32)
    (local.set $r (call $open (i32.const 3) (i32.const 0) (i32.const 1024) (i32.const 10)
      (i32.const 0) (i64.const 0x41) (i64.const 0) (i32.const 0) (i32.const 0)))
    (if (local.get $r) (then (call $exit (i32.add (i32.const 100000) (local.get $r)))))
    (local.set $fd (i32.load (i32.const 0)))
    (i32.store (i32.const 16) (i32.const 1024))
    (i32.store (i32.const 20) (i32.const 1))
    (loop $l
      (local.set $r (call $pwrite (local.get $fd) (i32.const 16) (i32.const 1) (i64.const 0) (i32.const 32)))
      (if (local.get $r) (then (call $exit (local.get $r))))
      (local.set $r (call $datasync (local.get $fd)))
      (if (local.get $r) (then (call $exit (local.get $r))))
      (br $l))))
