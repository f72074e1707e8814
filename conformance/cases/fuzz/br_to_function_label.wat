;;! [limits]
;;! fuel = 1_000_000
;;! [case]
;;! description = "fuzz seed 8: a `br` to the function's own label returns; the fuel it consumed is saved like a `return`'s"
;;! invoke = "run"
;;! expect = "returned:i32:7"
(module
  (func (export "run") (result i32)
    (drop (i32.add (i32.const 1) (i32.const 2)))
    (i32.const 7)
    (br 0)))
