;;! [case]
;;! invoke = "run"
;;! expect = "trapped:memory_out_of_bounds"
;;! description = "a load past the end of memory"
(module (memory 1) (func (export "run") (result i32) (i32.load (i32.const 65533))))
