;;! [limits]
;;! fuel = 1_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i64:998997"
;;! description = "a host call's fuel cost is charged once per call and visible to the guest"
(module
  (import "cage_test" "expensive" (func $e))
  (import "cage_test" "fuel_left" (func $left (result i64)))
  (func (export "run") (result i64) (call $e) (call $left)))
