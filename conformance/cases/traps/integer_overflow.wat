;;! [case]
;;! invoke = "run"
;;! expect = "trapped:integer_overflow"
;;! description = "INT_MIN / -1"
(module (func (export "run") (result i32) (i32.div_s (i32.const 0x80000000) (i32.const -1))))
