;;! [limits]
;;! fuel = 100_000
;;! max_memory = "16 MiB"
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:out_of_fuel"
;;! description = "one memory.fill of 16 MiB costs a fuel per byte, more than the budget"
(module
  (memory 256)
  (func (export "run") (memory.fill (i32.const 0) (i32.const 0) (i32.const 16777216))))
