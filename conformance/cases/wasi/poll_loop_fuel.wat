;;! [limits]
;;! fuel = 100_000
;;! [case]
;;! expect = "trapped:out_of_fuel"
;;! description = "a loop of zero-timeout poll_oneoff calls still runs out of fuel"
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 16) (i32.const 1))
    (loop $l (drop (call $poll (i32.const 0) (i32.const 128) (i32.const 1) (i32.const 200))) (br $l))))
