;;! [features]
;;! threads = true
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:atomic_wait_non_shared_memory"
;;! description = "memory.atomic.wait32 on a memory that is not shared"
(module (memory 1) (func (export "run") (result i32) (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const 0))))
