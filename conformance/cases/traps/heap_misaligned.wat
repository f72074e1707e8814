;;! [features]
;;! threads = true
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:heap_misaligned"
;;! description = "an atomic load at an unaligned address"
(module (memory 1) (func (export "run") (result i32) (i32.atomic.load (i32.const 1))))
