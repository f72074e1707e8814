;;! [case]
;;! expect = "exited:1"
;;! description = "sock_accept on any descriptor fails: there is no network"
(module (import "wasi_snapshot_preview1" "sock_accept" (func $a (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.ne (call $a (i32.const 3) (i32.const 0) (i32.const 0)) (i32.const 0)))))
