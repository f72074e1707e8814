;;! [limits]
;;! max_table_elements = 100
;;! trap_on_grow_failure = true
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:resource_limit"
;;! description = "with trap_on_grow_failure a table.grow past the cap traps resource_limit"
(module
  (table 10 funcref)
  (func (export "run") (result i32) (table.grow (ref.null func) (i32.const 91))))
