;; A guest whose needs scale with its arguments, for `cage profile`: `work(n, pages)` counts down
;; from n * 1000 (fuel grows with n), then grows its memory to `pages` pages in total and traps
;; if it cannot (memory grows with pages). Returns the memory size in pages.
(module
  (memory 1)
  (func (export "work") (param $n i32) (param $pages i32) (result i32)
    (local $i i32)
    (local.set $i (i32.mul (local.get $n) (i32.const 1000)))
    (block $done
      (loop $count
        (br_if $done (i32.eqz (local.get $i)))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br $count)))
    (if (i32.gt_u (local.get $pages) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $pages) (memory.size))) (i32.const -1))
          (then unreachable))))
    (memory.size)))
