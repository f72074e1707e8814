;;! [limits]
;;! fuel = 10_000
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:out_of_fuel"
;;! description = "a host function charging more fuel than is left traps out_of_fuel"
(module
  (import "cage_test" "consume" (func $c (param i64)))
  (func (export "run") (call $c (i64.const 1000000))))
