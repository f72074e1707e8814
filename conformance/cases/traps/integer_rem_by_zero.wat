;;! [case]
;;! invoke = "run"
;;! expect = "trapped:integer_division_by_zero"
;;! description = "i64.rem_u by zero"
(module (func (export "run") (result i64) (i64.rem_u (i64.const 1) (i64.const 0))))
