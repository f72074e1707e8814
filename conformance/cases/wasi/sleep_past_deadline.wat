;;! [limits]
;;! timeout = "200ms"
;;! [case]
;;! expect = "trapped:timeout"
;;! description = "a guest asleep in one poll_oneoff for an hour is stopped at the deadline, not when it wakes"
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 3600000000000))
    (drop (call $poll (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 200)))))
