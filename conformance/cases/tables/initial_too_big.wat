;;! [limits]
;;! max_table_elements = 100
;;! [case]
;;! expect = "rejected:limit_exceeded"
;;! description = "a declared initial table above the cap is rejected"
(module (table 101 funcref))
