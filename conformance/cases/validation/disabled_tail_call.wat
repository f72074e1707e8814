;;! [case]
;;! expect = "rejected:feature_disabled"
;;! description = "return_call needs tail_call, off by default"
(module (func (return_call 0)))
