;; Host-function round trip: `run(n)` calls the host's `env.bump(x) = x + 1` n times, feeding each
;; result into the next call, and returns the last result (= n).
(module
  (import "env" "bump" (func $bump (param i32) (result i32)))
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (call $bump (local.get $acc)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $acc)))
