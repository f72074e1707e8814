;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:400"
;;! description = "fuel identity: two nested loops"
(module (func (export "run") (result i32) (local $i i32) (local $j i32) (local $n i32)
  (loop $o (local.set $j (i32.const 0))
    (loop $in (local.set $n (i32.add (local.get $n) (i32.const 1))) (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br_if $in (i32.lt_u (local.get $j) (i32.const 20))))
    (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $o (i32.lt_u (local.get $i) (i32.const 20))))
  (local.get $n)))
