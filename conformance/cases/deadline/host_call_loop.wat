;;! [limits]
;;! timeout = "100ms"
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:timeout"
;;! description = "a loop of host calls without fuel is stopped by the deadline"
(module
  (import "cage_test" "nop" (func $n))
  (func (export "run") (loop (call $n) (br 0))))
