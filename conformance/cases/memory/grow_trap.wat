;;! [limits]
;;! max_memory = "1 MiB"
;;! trap_on_grow_failure = true
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:resource_limit"
;;! description = "with trap_on_grow_failure a memory.grow past the cap traps resource_limit"
(module
  (memory 1)
  (func (export "run") (result i32) (memory.grow (i32.const 16))))
