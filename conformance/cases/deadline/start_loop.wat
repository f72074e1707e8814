;;! [limits]
;;! timeout = "100ms"
;;! [case]
;;! expect = "trapped:timeout"
;;! description = "an endless start function is stopped by the deadline"
(module (func $start (loop br 0)) (start $start))
