;;! [case]
;;! expect = "exited:8"
;;! description = "fd_write to a descriptor that does not exist fails with EBADF (8), the guest exits with it"
(module (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32))) (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 1))
    (call $exit (call $fd_write (i32.const 99) (i32.const 0) (i32.const 1) (i32.const 20)))))
