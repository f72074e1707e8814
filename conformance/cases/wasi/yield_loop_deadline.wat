;;! [limits]
;;! timeout = "100ms"
;;! [case]
;;! expect = "trapped:timeout"
;;! description = "a loop of sched_yield without fuel is stopped by the deadline"
(module
  (import "wasi_snapshot_preview1" "sched_yield" (func $y (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (loop $l (drop (call $y)) (br $l))))
