;;! [limits]
;;! max_data_segments = 2
;;! [case]
;;! expect = "rejected:limit_exceeded"
;;! description = "more data segments than limits.max_data_segments"
(module (memory 1) (data (i32.const 0) "a") (data (i32.const 1) "b") (data (i32.const 2) "c"))
