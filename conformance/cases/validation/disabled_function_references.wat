;;! [case]
;;! expect = "rejected:feature_disabled"
;;! description = "call_ref needs function_references, off by default"
(module (type $t (func)) (func (param (ref $t)) (call_ref $t (local.get 0))))
