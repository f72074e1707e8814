;;! [case]
;;! invoke = "run"
;;! expect = "trapped:table_out_of_bounds"
;;! description = "call_indirect past the end of the table"
(module
  (type $t (func))
  (table 1 funcref)
  (func (export "run") (call_indirect (type $t) (i32.const 5))))
