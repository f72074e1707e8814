;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:6"
;;! description = "a host function reads guest memory through bounds-checked copies"
(module
  (import "cage_test" "sum" (func $sum (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "\01\02\03")
  (func (export "run") (result i32) (call $sum (i32.const 100) (i32.const 3))))
