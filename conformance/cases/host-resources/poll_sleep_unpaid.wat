;;! [limits]
;;! fuel = 1_000_000
;;! [case]
;;! expect = "trapped:out_of_fuel"
;;! description = "a metered guest asking poll_oneoff to sleep an hour pays for the wait first (1 000 fuel per millisecond): it traps out_of_fuel at once instead of holding a host thread until the deadline"
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    ;; one relative monotonic clock subscription of one hour at 0; events at 64; count at 128
    (i64.store (i32.const 0) (i64.const 7))
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 3600000000000))
    (i64.store (i32.const 32) (i64.const 0))
    (i32.store16 (i32.const 40) (i32.const 0))
    (call $exit (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))))
