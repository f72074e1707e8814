;;! [case]
;;! expect = "rejected:feature_disabled"
;;! description = "two memories need multi_memory, off by default"
(module (memory 0) (memory 0))
