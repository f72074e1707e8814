;;! [case]
;;! invoke = "run"
;;! expect = "trapped:memory_out_of_bounds"
;;! description = "a host write whose range wraps around the address space traps"
(module
  (import "cage_test" "fill" (func $fill (param i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "run") (call $fill (i32.const -16) (i32.const 32) (i32.const 7))))
