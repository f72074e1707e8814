;;! [case]
;;! expect = "rejected:limit_exceeded"
;;! description = "two tables exceed the default max_tables = 1"
(module (table 1 funcref) (table 1 funcref))
