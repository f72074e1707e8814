;;! [limits]
;;! fuel = 10_000_000
;;! [features]
;;! exceptions = true
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:42"
;;! description = "fuel identity: a throw caught two calls up (not on Singlepass)"
(module (tag $e (param i32))
  (func $thrower (throw $e (i32.const 42))) (func $mid (call $thrower))
  (func (export "run") (result i32) (block $h (result i32) (try_table (catch $e $h) (call $mid)) (i32.const 0))))
