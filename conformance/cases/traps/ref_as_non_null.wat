;;! [features]
;;! function_references = true
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:null_reference"
;;! description = "ref.as_non_null of null"
(module (func (export "run") (drop (ref.as_non_null (ref.null func)))))
