;; A WASI command that writes "exiting\n" to stdout and "bye\n" to stderr, then calls
;; proc_exit with the code it reads on stdin (4 bytes, little-endian; 0 when stdin is empty).
;; proc_exit never returns: if it did, the guest would trap `unreachable`.
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "exiting\n")
  (data (i32.const 80) "bye\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 8))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
    (i32.store (i32.const 0) (i32.const 80))
    (i32.store (i32.const 4) (i32.const 4))
    (drop (call $write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 16)))
    ;; The code, read into 32..36 (zero until read).
    (i32.store (i32.const 0) (i32.const 32))
    (i32.store (i32.const 4) (i32.const 4))
    (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))
    (call $exit (i32.load (i32.const 32)))
    unreachable))
