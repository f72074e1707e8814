;;! [case]
;;! expect = "trapped:unreachable"
;;! description = "a trap in the start function is a trap, not a crash"
(module (func $s unreachable) (start $s))
