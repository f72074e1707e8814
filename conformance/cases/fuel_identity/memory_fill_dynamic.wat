;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:7"
;;! description = "fuel identity: memory.fill with a length known only at run time"
(module (memory 1) (func (export "run") (result i32) (local $n i32) (local.set $n (i32.const 5000))
  (memory.fill (i32.const 0) (i32.const 7) (local.get $n)) (i32.load8_u (i32.const 4999))))
