;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i64:12"
;;! description = "fuel identity: globals, select and locals"
(module (global $g (mut i64) (i64.const 5))
  (func (export "run") (result i64) (local $x i64) (local.set $x (i64.const 7))
    (global.set $g (i64.add (global.get $g) (select (local.get $x) (i64.const 0) (i32.const 1)))) (global.get $g)))
