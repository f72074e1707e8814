;;! [features]
;;! simd = false
;;! [case]
;;! expect = "rejected:feature_disabled"
;;! description = "a v128 constant with simd disabled"
(module (func (result v128) (v128.const i64x2 0 0)))
