;;! [limits]
;;! fuel = 1_000_000
;;! [case]
;;! description = "fuzz seed 128267: an access to a memory whose maximum is 0 always traps; Wasmtime saves the fuel before it, so must Wasmer"
;;! before = ["trap"]
;;! invoke = "after"
;;! expect = "returned:i32:1"
(module
  (memory 0 0)
  (global $g (mut i32) (i32.const 0))
  (func (export "trap")
    (block (br 0))
    (global.set $g (i32.add (global.get $g) (i32.const 1)))
    (global.set $g (i32.add (global.get $g) (i32.const 1)))
    (drop (i32.load (global.get $g))))
  (func (export "after") (result i32) (i32.const 1)))
