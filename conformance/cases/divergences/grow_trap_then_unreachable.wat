;;! [limits]
;;! max_memory = "128 KiB"
;;! trap_on_grow_failure = true
;;! [case]
;;! before = ["grow"]
;;! invoke = "boom"
;;! expect = "trapped:unreachable"
;;! description = "after a failed memory.grow trapped resource_limit, the guest's own unreachable in the same sandbox is unreachable, not resource_limit (Wasmer's middleware flag must not outlive its trap)"
(module
  (memory 1)
  (func (export "grow") (drop (memory.grow (i32.const 100))))
  (func (export "boom") unreachable))
