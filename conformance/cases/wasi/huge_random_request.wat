;;! [limits]
;;! fuel = 1_000_000
;;! [case]
;;! expect = "exited:48"
;;! description = "random_get of 4 GiB into a 1-page memory answers ENOMEM (48): past limits.max_io_per_call, before the pointer is checked or the host generates anything"
(module
  (import "wasi_snapshot_preview1" "random_get" (func $rand (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (call $rand (i32.const 0) (i32.const -1)))))
