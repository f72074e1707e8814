;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:-1"
;;! description = "memory.grow past the module's own declared maximum returns -1"
(module
  (memory 1 2)
  (func (export "run") (result i32) (memory.grow (i32.const 2))))
