;;! [case]
;;! invoke = "run"
;;! expect = "trapped:indirect_call_to_null"
;;! description = "call_indirect to an empty table slot"
(module
  (type $t (func))
  (table 1 funcref)
  (func (export "run") (call_indirect (type $t) (i32.const 0))))
