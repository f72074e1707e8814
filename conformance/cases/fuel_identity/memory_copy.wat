;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:42"
;;! description = "fuel identity: memory.copy of 3000 bytes"
(module (memory 1) (data (i32.const 0) "*") (func (export "run") (result i32) (local $n i32) (local.set $n (i32.const 3000))
  (memory.copy (i32.const 10000) (i32.const 0) (local.get $n)) (i32.load8_u (i32.const 10000))))
