;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:104"
;;! description = "fuel identity: memory.init from a passive segment"
(module (memory 1) (data $d "hello world")
  (func (export "run") (result i32) (memory.init $d (i32.const 100) (i32.const 0) (i32.const 11)) (data.drop $d) (i32.load8_u (i32.const 100))))
