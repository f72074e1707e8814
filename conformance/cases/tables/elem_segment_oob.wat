;;! [case]
;;! expect = "trapped:table_out_of_bounds"
;;! description = "an active element segment outside the table traps at instantiation"
(module (table 1 funcref) (func $f) (elem (i32.const 1) $f))
