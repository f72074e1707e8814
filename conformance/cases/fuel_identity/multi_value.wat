;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:1,i64:2,f32:3"
;;! description = "fuel identity: a function returning three values"
(module (func $m (result i32 i64 f32) (i32.const 1) (i64.const 2) (f32.const 3)) (func (export "run") (result i32 i64 f32) (call $m)))
