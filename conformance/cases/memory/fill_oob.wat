;;! [case]
;;! invoke = "run"
;;! expect = "trapped:memory_out_of_bounds"
;;! description = "memory.fill past the end of memory"
(module (memory 1) (func (export "run") (memory.fill (i32.const 65000) (i32.const 0) (i32.const 1000))))
