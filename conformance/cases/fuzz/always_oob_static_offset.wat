;;! [limits]
;;! fuel = 1_000_000
;;! [case]
;;! description = "a store whose static offset passes the memory's maximum always traps; the fuel saved before it is the same everywhere"
;;! before = ["trap"]
;;! invoke = "after"
;;! expect = "returned:i32:1"
(module
  (memory 1 1)
  (global $g (mut i64) (i64.const 0))
  (func (export "trap")
    (block (br 0))
    (global.set $g (i64.mul (global.get $g) (i64.const 3)))
    (global.set $g (i64.add (global.get $g) (i64.const 5)))
    (i64.store offset=65535 (i32.const 0) (global.get $g)))
  (func (export "after") (result i32) (i32.const 1)))
