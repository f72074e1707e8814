;;! [case]
;;! invoke = "run"
;;! expect = "trapped:stack_overflow"
;;! description = "unbounded recursion exhausts the guest stack"
(module (func $f (export "run") (call $f)))
