;;! [limits]
;;! timeout = "100ms"
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:timeout"
;;! description = "endless calls without a backward branch in the caller body are stopped at function entry"
(module
  (func $f)
  (func (export "run") (loop (call $f) (call $f) (br 0))))
