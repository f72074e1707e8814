;;! [features]
;;! multi_memory = true
;;! [case]
;;! expect = "rejected:limit_exceeded"
;;! description = "two memories exceed the default max_memories = 1"
(module (memory 1) (memory 1))
