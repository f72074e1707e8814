;;! [case]
;;! expect = "trapped:heap_misaligned"
;;! description = "a WASI result pointer that is not aligned for its type traps (preview 1: misaligned pointers trap), the same on every runtime"
(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $now (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $now (i32.const 1) (i64.const 0) (i32.const 3)))))
