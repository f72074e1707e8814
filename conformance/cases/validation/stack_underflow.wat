;;! [case]
;;! expect = "rejected:invalid_module"
;;! description = "i32.add with one operand"
(module (func (result i32) (i32.add (i32.const 1))))
