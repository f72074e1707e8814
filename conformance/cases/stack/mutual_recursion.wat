;;! [case]
;;! invoke = "run"
;;! expect = "trapped:stack_overflow"
;;! description = "two functions calling each other forever"
(module
  (func $a (export "run") (call $b))
  (func $b (call $a)))
