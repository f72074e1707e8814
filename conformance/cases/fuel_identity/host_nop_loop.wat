;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned"
;;! description = "fuel identity: a loop of host calls: each costs only its call"
(module (import "cage_test" "nop" (func $n))
  (func (export "run") (local $i i32) (loop $l (call $n) (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 50))))))
