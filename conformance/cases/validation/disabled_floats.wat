;;! [features]
;;! floats = false
;;! [case]
;;! expect = "rejected:feature_disabled"
;;! description = "an f32 constant with floats disabled"
(module (func (result f32) (f32.const 1)))
