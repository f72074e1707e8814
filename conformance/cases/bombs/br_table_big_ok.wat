;;! [case]
;;! invoke = "run"
;;! args = ["i32:3"]
;;! expect = "returned:i32:7"
;;! description = "a br_table with a few thousand targets compiles fast and branches right"
(module (func (export "run") (param i32) (result i32) (block (br_table 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 (local.get 0))) (i32.const 7)))
