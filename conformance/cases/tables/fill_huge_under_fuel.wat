;;! [limits]
;;! fuel = 1_000
;;! max_table_elements = 10_000
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:out_of_fuel"
;;! description = "table.fill of 10000 elements is charged per element"
(module
  (table 10000 funcref)
  (func (export "run") (table.fill (i32.const 0) (ref.null func) (i32.const 10000))))
