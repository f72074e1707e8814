;;! [limits]
;;! fuel = 5_000
;;! [[wasi.dirs]]
;;! host = "fixtures/rw"
;;! guest = "/data"
;;! [[case.make]]
;;! path = "big"
;;! kind = "file"
;;! count = 100_000
;;! [case]
;;! expect = "trapped:out_of_fuel"
;;! description = "a 100 000-byte read that 5 000 fuel cannot pay for traps out_of_fuel before the host reads a byte"
(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 1024) "big")
  (func (export "_start") (local $r i32)
    (local.set $r (call $open (i32.const 3) (i32.const 0) (i32.const 1024) (i32.const 3)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0)))
    (if (local.get $r) (then (call $exit (local.get $r))))
    (i32.store (i32.const 16) (i32.const 2048))
    (i32.store (i32.const 20) (i32.const 100000))
    (call $exit (call $read (i32.load (i32.const 0)) (i32.const 16) (i32.const 1) (i32.const 32)))))
