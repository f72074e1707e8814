;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:1"
;;! description = "fuel identity: table.fill, table.copy, table.init and elem.drop"
(module (table 100 funcref) (func $f (result i32) (i32.const 1)) (elem $e func $f $f $f)
  (type $t (func (result i32)))
  (func (export "run") (result i32) (local $n i32) (local.set $n (i32.const 50))
    (table.fill (i32.const 0) (ref.func $f) (local.get $n)) (table.copy (i32.const 60) (i32.const 0) (i32.const 30))
    (table.init $e (i32.const 95) (i32.const 0) (i32.const 3)) (elem.drop $e)
    (call_indirect (type $t) (i32.const 89))))
