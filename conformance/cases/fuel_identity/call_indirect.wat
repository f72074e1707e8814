;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:300"
;;! description = "fuel identity: a loop of call_indirect through a table of three functions"
(module (type $t (func (result i32)))
  (table 3 funcref) (elem (i32.const 0) $a $b $c)
  (func $a (result i32) (i32.const 1)) (func $b (result i32) (i32.const 2)) (func $c (result i32) (i32.const 3))
  (func (export "run") (result i32) (local $i i32) (local $s i32)
    (loop $l (local.set $s (i32.add (local.get $s) (call_indirect (type $t) (i32.rem_u (local.get $i) (i32.const 3)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 150))))
    (local.get $s)))
