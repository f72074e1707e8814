;;! [limits]
;;! fuel = 10_000_000
;;! [[wasi.dirs]]
;;! host = "fixtures/ro"
;;! guest = "/data"
;;! [[case.make]]
;;! path = "big"
;;! kind = "files"
;;! count = 20_000
;;! [case]
;;! expect = "trapped:out_of_fuel"
;;! description = "fd_readdir from cookie 0 in a loop re-reads a directory of 20 000 entries each time, and pays for every entry each time: the loop runs out of fuel after a few passes instead of costing the host a full listing for about 200 fuel"
(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir" (func $readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "big")
  (func (export "_start") (local $r i32) (local $i i32)
    (local.set $r (call $open (i32.const 3) (i32.const 0) (i32.const 1024) (i32.const 3)
      (i32.const 2) (i64.const 0x4002) (i64.const 0) (i32.const 0) (i32.const 0)))
    (if (local.get $r) (then (call $exit (local.get $r))))
    (loop $l
      (drop (call $readdir (i32.load (i32.const 0)) (i32.const 2048) (i32.const 64) (i64.const 0) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 500))))
    (call $exit (i32.const 1))))
