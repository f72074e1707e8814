;;! [limits]
;;! fuel = 50_000
;;! [case]
;;! expect = "trapped:out_of_fuel"
;;! description = "WASI calls are not free: one fd_write of 60 000 bytes costs more than the budget of 50 000 fuel (a base cost plus one per byte), so it traps out_of_fuel"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 60000))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))))
