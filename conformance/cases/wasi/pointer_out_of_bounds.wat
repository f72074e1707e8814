;;! [case]
;;! expect = "trapped:memory_out_of_bounds"
;;! description = "an iovec table that points past the end of memory traps memory_out_of_bounds; the host never reads outside the guest's memory"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 65000)) (i32.store (i32.const 4) (i32.const 1000))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))))
