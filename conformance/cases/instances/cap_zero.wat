;;! [limits]
;;! max_instances = 0
;;! [case]
;;! invoke = "run"
;;! expect = "rejected:limit_exceeded"
;;! description = "no sandbox may be created when max_instances = 0"
(module (func (export "run")))
