;;! [limits]
;;! fuel = 1_000_000
;;! [case]
;;! description = "a `br_table` whose target is the function's label returns, and its fuel is saved"
;;! invoke = "run"
;;! args = ["i32:1"]
;;! expect = "returned:i64:11"
(module
  (func (export "run") (param i32) (result i64)
    (block (result i64)
      (br_table 0 1 (i64.const 11) (local.get 0)))
    (drop)
    (i64.const 3)))
