;;! [case]
;;! invoke = "run"
;;! expect = "trapped:stack_overflow"
;;! description = "unbounded recursion through call_indirect"
(module
  (type $t (func))
  (table 1 funcref)
  (elem (i32.const 0) $f)
  (func $f (export "run") (call_indirect (type $t) (i32.const 0))))
