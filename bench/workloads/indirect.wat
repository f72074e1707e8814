;; call_indirect-heavy loop: `run(n)` applies n operations picked from a table of four by
;; (i + acc >> 30) & 3 (data-dependent, so the target is not predictable from i alone) and
;; returns the accumulator. Measures indirect calls: table bounds and signature checks.
(module
  (type $op (func (param i32) (result i32)))
  (table 4 funcref)
  (elem (i32.const 0) $add $mul $xor $rotl)
  (func $add (type $op) (i32.add (local.get 0) (i32.const 0x9e3779b9)))
  (func $mul (type $op) (i32.mul (local.get 0) (i32.const 3)))
  (func $xor (type $op) (i32.xor (local.get 0) (i32.const 0x5bd1e995)))
  (func $rotl (type $op) (i32.rotl (local.get 0) (i32.const 5)))
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (local.set $acc (i32.const 1))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc
          (call_indirect (type $op)
            (local.get $acc)
            (i32.and
              (i32.add (local.get $i) (i32.shr_u (local.get $acc) (i32.const 30)))
              (i32.const 3))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $acc)))
