;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:10"
;;! description = "fuel identity: SIMD arithmetic (not on Singlepass)"
(module (func (export "run") (result i32) (i32x4.extract_lane 0 (i32x4.add (i32x4.splat (i32.const 4)) (i32x4.splat (i32.const 6))))))
