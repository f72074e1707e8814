;;! [limits]
;;! fuel = 1_000_000
;;! [case]
;;! expect = "trapped:memory_out_of_bounds"
;;! description = "random_get of 4 GiB into a 1-page memory traps before the host generates anything"
(module
  (import "wasi_snapshot_preview1" "random_get" (func $rand (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $rand (i32.const 0) (i32.const -1)))))
