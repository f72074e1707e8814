;;! [features]
;;! bulk_memory = false
;;! [case]
;;! expect = "rejected:feature_disabled"
;;! description = "memory.fill with bulk_memory disabled"
(module (memory 1) (func (memory.fill (i32.const 0) (i32.const 0) (i32.const 0))))
