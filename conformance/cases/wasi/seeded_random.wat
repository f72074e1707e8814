;;! [wasi]
;;! random = { seed = 42 }
;;! [case]
;;! invoke = "bytes"
;;! expect = "returned"
;;! description = "seeded random_get gives the same bytes on every runtime (the identical check compares them)"
(module
  (import "wasi_snapshot_preview1" "random_get" (func $r (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "bytes") (result i64 i64) (drop (call $r (i32.const 0) (i32.const 16))) (i64.load (i32.const 0)) (i64.load (i32.const 8))))
