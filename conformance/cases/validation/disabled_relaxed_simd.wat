;;! [case]
;;! expect = "rejected:feature_disabled"
;;! description = "relaxed SIMD is off by default"
(module (func (result v128) (i32x4.relaxed_trunc_f32x4_s (v128.const i64x2 0 0))))
