;; A WASI command that exits 4 from its start function, while being instantiated, before
;; `_start` is called; `_start` itself would trap.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "from start\n")
  (func $init
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 11))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
    (call $exit (i32.const 4)))
  (start $init)
  (func (export "_start") unreachable))
