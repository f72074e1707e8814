;;! [case]
;;! invoke = "nope"
;;! expect = "rejected:invalid_invocation"
;;! description = "invoking an export that does not exist"
(module (func (export "run")))
