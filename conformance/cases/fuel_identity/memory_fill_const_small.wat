;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:9"
;;! description = "fuel identity: memory.fill with a constant length of 100 (no check)"
(module (memory 1) (func (export "run") (result i32) (memory.fill (i32.const 0) (i32.const 9) (i32.const 100)) (i32.load8_u (i32.const 99))))
