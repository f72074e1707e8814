;;! [case]
;;! invoke = "run"
;;! expect = "trapped:memory_out_of_bounds"
;;! description = "a store whose static offset overflows 32 bits"
(module (memory 1) (func (export "run") (i32.store offset=0xffffffff (i32.const 8) (i32.const 1))))
