;;! [limits]
;;! fuel = 5_000
;;! [case]
;;! expect = "exited:48"
;;! description = "random_get of 1 GiB under 5 000 fuel: past limits.max_io_per_call, ENOMEM (48) before the host generates or allocates anything"
(module
  (import "wasi_snapshot_preview1" "random_get" (func $rand (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (call $rand (i32.const 0) (i32.const 0x40000000)))))
