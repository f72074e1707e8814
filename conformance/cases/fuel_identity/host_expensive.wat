;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned"
;;! description = "fuel identity: host functions with a declared cost"
(module (import "cage_test" "expensive" (func $e)) (func (export "run") (call $e) (call $e) (call $e)))
