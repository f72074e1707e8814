;;! [case]
;;! invoke = "run"
;;! expect = "trapped:host_error"
;;! description = "a host function that returns an error traps the guest"
(module
  (import "cage_test" "fail" (func $fail))
  (func (export "run") (call $fail)))
