;;! [case]
;;! invoke = "run"
;;! expect = "trapped:integer_overflow"
;;! description = "i32.trunc_f64_u of 1e10 is out of range: the spec calls it integer overflow"
(module (func (export "run") (result i32) (i32.trunc_f64_u (f64.const 1e10))))
