;;! [limits]
;;! fuel = 1_000_000
;;! [case]
;;! description = "a `br` to the label of a function with two results returns both, and its fuel is saved"
;;! invoke = "run"
;;! expect = "returned:i32:1,i64:2"
(module
  (func (export "run") (result i32 i64)
    (drop (i32.const 0))
    (i32.const 1)
    (i64.const 2)
    (br 0)))
