;;! [features]
;;! exceptions = true
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:uncaught_exception"
;;! description = "an exception thrown and never caught"
(module (tag $e) (func (export "run") (throw $e)))
