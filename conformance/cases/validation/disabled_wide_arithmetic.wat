;;! [case]
;;! expect = "rejected:feature_disabled"
;;! description = "i64.add128 needs wide_arithmetic"
(module (func (result i64 i64) (i64.add128 (i64.const 1) (i64.const 0) (i64.const 2) (i64.const 0))))
