;;! [limits]
;;! fuel = 1_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:out_of_fuel"
;;! description = "a loop of 64 KiB memory.copy operations is charged per byte"
(module
  (memory 2)
  (func (export "run") (loop (memory.copy (i32.const 0) (i32.const 65536) (i32.const 65536)) (br 0))))
