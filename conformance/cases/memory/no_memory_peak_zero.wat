;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:131072"
;;! description = "memory size after one grow; peak memory must be reported the same everywhere"
(module (memory 1) (func (export "run") (result i32) (drop (memory.grow (i32.const 1))) (i32.mul (memory.size) (i32.const 65536))))
