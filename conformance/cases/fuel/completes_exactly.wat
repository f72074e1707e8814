;;! [limits]
;;! fuel = 1_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:5050"
;;! description = "a bounded loop completes under fuel; fuel_consumed must be identical on every runtime"
(module
  (func (export "run") (result i32) (local $i i32) (local $s i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (local.set $s (i32.add (local.get $s) (local.get $i)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))
    (local.get $s)))
