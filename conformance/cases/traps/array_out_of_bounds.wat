;;! [features]
;;! function_references = true
;;! gc = true
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:array_out_of_bounds"
;;! description = "array.get past the end of a GC array"
(module
  (type $a (array i32))
  (func (export "run") (result i32) (array.get $a (array.new_default $a (i32.const 1)) (i32.const 5))))
