;;! [limits]
;;! trap_on_grow_failure = true
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:resource_limit"
;;! description = "with trap_on_grow_failure every failed memory.grow traps, also past the declared maximum"
(module
  (memory 1 2)
  (func (export "run") (result i32) (memory.grow (i32.const 2))))
