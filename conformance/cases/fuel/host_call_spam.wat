;;! [limits]
;;! fuel = 100_000
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:out_of_fuel"
;;! description = "a loop calling a host function that costs 1000 fuel per call"
(module
  (import "cage_test" "expensive" (func $e))
  (func (export "run") (loop (call $e) (br 0))))
