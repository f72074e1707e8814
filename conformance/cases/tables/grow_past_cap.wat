;;! [limits]
;;! max_table_elements = 100
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:-1,i32:10"
;;! description = "table.grow past limits.max_table_elements returns -1 for a table with no declared maximum"
(module
  (table 10 funcref)
  (func (export "run") (result i32 i32)
    (table.grow (ref.null func) (i32.const 91))
    (table.size)))
