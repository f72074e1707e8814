;;! [case]
;;! invoke = "run"
;;! args = ["i32:0"]
;;! expect = "trapped:integer_division_by_zero"
;;! description = "i32.div_s by zero"
(module (func (export "run") (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0))))
