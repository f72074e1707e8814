;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:25"
;;! description = "fuel identity: both arms of if/else"
(module (func (export "run") (result i32) (local $i i32) (local $s i32)
  (loop $l (if (i32.and (local.get $i) (i32.const 1)) (then (local.set $s (i32.add (local.get $s) (i32.const 2))))
      (else (local.set $s (i32.add (local.get $s) (i32.const 3))) (nop)))
    (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 10)))) (local.get $s)))
