;;! [case]
;;! invoke = "run"
;;! expect = "trapped:table_out_of_bounds"
;;! description = "table.get past the end of the table"
(module (table 1 funcref) (func (export "run") (drop (table.get (i32.const 1)))))
