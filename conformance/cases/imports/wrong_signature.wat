;;! [case]
;;! expect = "rejected:unresolved_import"
;;! description = "a host function imported with another signature"
(module (import "cage_test" "nop" (func (param i32))))
