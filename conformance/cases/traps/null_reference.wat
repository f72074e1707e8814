;;! [features]
;;! function_references = true
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:null_reference"
;;! description = "call_ref on a null function reference"
(module
  (type $t (func))
  (func (export "run") (call_ref $t (ref.null $t))))
