;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i64:9999001"
;;! description = "fuel identity: a host function charging 1000 fuel"
(module (import "cage_test" "consume" (func $c (param i64))) (import "cage_test" "fuel_left" (func $f (result i64)))
  (func (export "run") (result i64) (call $c (i64.const 995)) (call $f)))
