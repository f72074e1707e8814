;; Not a WASI command: no `_start` export. Its start function, run when it is instantiated,
;; writes "started\n" and exits 7; a command that cannot be called must never get that far.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "started\n")
  (func $init
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 8))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
    (call $exit (i32.const 7)))
  (start $init)
  (func (export "main")))
