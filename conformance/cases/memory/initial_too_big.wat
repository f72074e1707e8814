;;! [limits]
;;! max_memory = "1 MiB"
;;! [case]
;;! invoke = "run"
;;! expect = "rejected:limit_exceeded"
;;! description = "a declared initial memory above the cap is rejected before compiling"
(module (memory 17) (func (export "run")))
