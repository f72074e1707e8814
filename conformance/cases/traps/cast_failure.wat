;;! [features]
;;! function_references = true
;;! gc = true
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:cast_failure"
;;! description = "ref.cast to an unrelated struct type"
(module
  (type $a (struct (field i32)))
  (type $b (struct (field i64)))
  (func (export "run") (drop (ref.cast (ref $b) (struct.new_default $a)))))
