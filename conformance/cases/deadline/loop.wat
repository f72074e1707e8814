;;! [limits]
;;! timeout = "200ms"
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:timeout"
;;! description = "an empty infinite loop without fuel is stopped by the deadline"
(module (func (export "run") (loop br 0)))
