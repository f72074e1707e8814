;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:5050"
;;! description = "fuel identity: a counted loop with a back-edge check per iteration"
(module (func (export "run") (result i32) (local $i i32) (local $s i32)
  (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (local.set $s (i32.add (local.get $s) (local.get $i)))
    (br_if $l (i32.lt_u (local.get $i) (i32.const 100)))) (local.get $s)))
