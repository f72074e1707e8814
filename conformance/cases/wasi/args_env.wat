;;! [wasi]
;;! args = ["prog", "--flag"]
;;! env = { LANG = "C" }
;;! [case]
;;! expect = "exited:0"
;;! expect_stdout = "prog\u0000--flag\u0000LANG=C\u0000"
;;! description = "args and env are exactly the granted ones (nothing inherited)"
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $asz (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $aget (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $esz (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $eget (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $asz (i32.const 0) (i32.const 4)))
    (drop (call $aget (i32.const 100) (i32.const 1000)))
    (i32.store (i32.const 16) (i32.const 1000)) (i32.store (i32.const 20) (i32.load (i32.const 4)))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
    (drop (call $esz (i32.const 0) (i32.const 4)))
    (drop (call $eget (i32.const 100) (i32.const 2000)))
    (i32.store (i32.const 16) (i32.const 2000)) (i32.store (i32.const 20) (i32.load (i32.const 4)))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))))
