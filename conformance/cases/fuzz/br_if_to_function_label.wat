;;! [limits]
;;! fuel = 1_000_000
;;! [case]
;;! description = "a taken `br_if` to the function's label returns, and its fuel is saved"
;;! invoke = "run"
;;! args = ["i32:1"]
;;! expect = "returned:i32:9"
(module
  (func (export "run") (param i32) (result i32)
    (drop (i32.mul (local.get 0) (i32.const 3)))
    (br_if 0 (i32.const 9) (local.get 0))
    (drop)
    (i32.const 2)))
