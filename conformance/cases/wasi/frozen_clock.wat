;;! [wasi]
;;! clock = "frozen"
;;! [case]
;;! invoke = "now"
;;! expect = "returned:i64:1700000000000000000,i64:1000000000"
;;! description = "a frozen clock reads the same instant on every runtime"
(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $t (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "now") (result i64 i64)
    (drop (call $t (i32.const 0) (i64.const 1) (i32.const 0)))
    (drop (call $t (i32.const 1) (i64.const 1) (i32.const 8)))
    (i64.load (i32.const 0)) (i64.load (i32.const 8))))
