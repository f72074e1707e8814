;;! [case]
;;! invoke = "run"
;;! expect = "trapped:bad_conversion_to_integer"
;;! description = "i32.trunc_f32_s of NaN"
(module (func (export "run") (result i32) (i32.trunc_f32_s (f32.const nan))))
