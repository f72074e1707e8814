;;! [limits]
;;! max_memory = "1 MiB"
;;! [case]
;;! expect = "rejected:limit_exceeded"
;;! description = "an imported memory whose minimum is above the cap is rejected"
(module (import "env" "mem" (memory 100)))
