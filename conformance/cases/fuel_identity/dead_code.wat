;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:1"
;;! description = "fuel identity: code after return is never charged"
(module (func (export "run") (result i32) (i32.const 1) (return) (drop (i32.const 2)) (i32.const 3)))
