;;! [case]
;;! invoke = "run"
;;! args = ["i64:1"]
;;! expect = "rejected:invalid_invocation"
;;! description = "invoking an export with arguments of the wrong type"
(module (func (export "run") (param i32)))
