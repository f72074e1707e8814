;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:-1,i32:3"
;;! description = "fuel identity: memory.grow that succeeds and one that fails"
(module (memory 1 3)
  (func (export "run") (result i32 i32) (local $d i32) (local.set $d (i32.const 2)) (drop (memory.grow (local.get $d))) (memory.grow (i32.const 1)) (memory.size)))
