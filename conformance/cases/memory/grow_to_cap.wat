;;! [limits]
;;! max_memory = "1 MiB"
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:1"
;;! description = "memory.grow exactly to limits.max_memory succeeds"
(module
  (memory 1)
  (func (export "run") (result i32) (memory.grow (i32.const 15))))
