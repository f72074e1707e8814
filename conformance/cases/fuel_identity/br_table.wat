;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:21"
;;! description = "fuel identity: br_table dispatch in a loop"
(module (func (export "run") (result i32) (local $i i32) (local $s i32)
  (loop $l (block $c (block $b (block $a (br_table $a $b $c (i32.rem_u (local.get $i) (i32.const 3))))
        (local.set $s (i32.add (local.get $s) (i32.const 1))) (br $c))
      (local.set $s (i32.add (local.get $s) (i32.const 2))))
    (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 20)))) (local.get $s)))
