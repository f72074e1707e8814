;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:-1,i32:10"
;;! description = "fuel identity: table.grow that succeeds and one that fails (both charged per element)"
(module (table 1 20 funcref)
  (func (export "run") (result i32 i32) (drop (table.grow (ref.null func) (i32.const 9))) (table.grow (ref.null func) (i32.const 50)) (table.size)))
