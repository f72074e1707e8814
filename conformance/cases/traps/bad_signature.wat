;;! [case]
;;! invoke = "run"
;;! expect = "trapped:bad_signature"
;;! description = "call_indirect with the wrong signature"
(module
  (type $t (func (param i32)))
  (table 1 funcref)
  (elem (i32.const 0) $f)
  (func $f)
  (func (export "run") (call_indirect (type $t) (i32.const 1) (i32.const 0))))
