;;! [limits]
;;! max_output = 1000
;;! fuel = 10_000_000
;;! [case]
;;! expect = "exited:29"
;;! description = "a guest writing stdout forever: writes past max_output fail (EIO, 29) and host memory stays bounded"
(module (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32))) (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $r i32)
    (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 64))
    (loop $l (local.set $r (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 20)))
      (br_if $l (i32.eqz (local.get $r))))
    (call $exit (local.get $r))))
