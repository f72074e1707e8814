;;! [case]
;;! invoke = "run"
;;! expect = "trapped:memory_out_of_bounds"
;;! description = "a host read from a guest that exports no memory traps"
(module
  (import "cage_test" "sum" (func $sum (param i32 i32) (result i32)))
  (memory 1)
  (func (export "run") (result i32) (call $sum (i32.const 0) (i32.const 1))))
