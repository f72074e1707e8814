;; async/many-guests: `work(n)` burns `n` loop iterations (about 1 ms, calibrated per runtime),
;; calls the host's `host.wait` (an async host function sleeping 10 ms, or a sync one sleeping
;; its thread), then burns `n` again.
(module
  (import "host" "wait" (func $wait))
  (memory (export "memory") 1)
  (func $burn (param $n i32)
    (loop $l (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n))))
  (func (export "work") (param $n i32)
    (call $burn (local.get $n))
    (call $wait)
    (call $burn (local.get $n))))
