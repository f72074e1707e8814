;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:-1"
;;! description = "memory.grow by 0xffffffff pages returns -1"
(module
  (memory 1)
  (func (export "run") (result i32) (memory.grow (i32.const -1))))
