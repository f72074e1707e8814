;;! [limits]
;;! fuel = 5_000
;;! [case]
;;! stdin = "hello"
;;! expect = "exited:48"
;;! description = "fd_read into a 1 GiB buffer under 5 000 fuel: past limits.max_io_per_call, ENOMEM (48) before the buffer is checked or anything is read"
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 0x40000000))
    (call $exit (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))))
