;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i64:610"
;;! description = "fuel identity: recursive fib(15): many function entries"
(module (func $fib (param i64) (result i64)
  (if (result i64) (i64.lt_u (local.get 0) (i64.const 2)) (then (local.get 0))
    (else (i64.add (call $fib (i64.sub (local.get 0) (i64.const 1))) (call $fib (i64.sub (local.get 0) (i64.const 2)))))))
  (func (export "run") (result i64) (call $fib (i64.const 15))))
