;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:1"
;;! description = "fuel identity: the smallest function: one entry plus one constant"
(module (func (export "run") (result i32) (i32.const 1)))
