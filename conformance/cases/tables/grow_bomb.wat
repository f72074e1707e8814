;;! [limits]
;;! max_table_elements = 1000
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:1000"
;;! description = "a loop growing a table element by element stops at the cap"
(module
  (table 1 funcref)
  (func (export "run") (result i32)
    (loop $l (br_if $l (i32.ne (table.grow (ref.null func) (i32.const 1)) (i32.const -1))))
    (table.size)))
