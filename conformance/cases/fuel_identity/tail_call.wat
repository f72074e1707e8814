;;! [limits]
;;! fuel = 10_000_000
;;! [features]
;;! tail_call = true
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:0"
;;! description = "fuel identity: return_call recursion 1000 deep (not on Singlepass)"
(module (func $f (param i32) (result i32) (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0)) (else (return_call $f (i32.sub (local.get 0) (i32.const 1))))))
  (func (export "run") (result i32) (call $f (i32.const 1000))))
