;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i64:9999995"
;;! description = "fuel identity: a host function sees the fuel left after its own call"
(module (import "cage_test" "fuel_left" (func $f (result i64)))
  (func (export "run") (result i64) (local i32) (drop (i32.const 1)) (nop) (local.set 0 (i32.const 2)) (call $f)))
