;;! [case]
;;! invoke = "run"
;;! expect = "trapped:memory_out_of_bounds"
;;! description = "a host read past the end of guest memory traps, it never reads host memory"
(module
  (import "cage_test" "sum" (func $sum (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "run") (result i32) (call $sum (i32.const 65530) (i32.const 100))))
