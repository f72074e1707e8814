;;! [limits]
;;! max_memory = "1 MiB"
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:-1,i32:16"
;;! description = "memory.grow past limits.max_memory returns -1 and leaves the size unchanged"
(module
  (memory 1)
  (func (export "run") (result i32 i32)
    (drop (memory.grow (i32.const 15)))
    (memory.grow (i32.const 1))
    (memory.size)))
