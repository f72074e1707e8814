;; Matrix multiply: `run(n)` fills two n×n i32 matrices (a[i][j] = i + j, b[i][j] = i - j),
;; computes c = a × b in linear memory (naive i-j-k order: b is walked by column) and returns
;; the wrapping sum of c. Memory-heavy: 2 n³ loads. n <= 200 (8 pages hold three matrices).
(module
  (memory 8)
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $j i32) (local $k i32)
    (local $b i32) (local $c i32) (local $acc i32) (local $sum i32)
    (local.set $b (i32.shl (i32.mul (local.get $n) (local.get $n)) (i32.const 2)))
    (local.set $c (i32.shl (local.get $b) (i32.const 1)))
    ;; a at 0, b at n²·4, c at 2·n²·4
    (local.set $i (i32.const 0))
    (block $filled
      (loop $fill_i
        (br_if $filled (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $j (i32.const 0))
        (block $row
          (loop $fill_j
            (br_if $row (i32.ge_u (local.get $j) (local.get $n)))
            (i32.store
              (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2))
              (i32.add (local.get $i) (local.get $j)))
            (i32.store
              (i32.add (local.get $b)
                (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2)))
              (i32.sub (local.get $i) (local.get $j)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $fill_j)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $fill_i)))
    (local.set $i (i32.const 0))
    (block $done
      (loop $mul_i
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $j (i32.const 0))
        (block $row_done
          (loop $mul_j
            (br_if $row_done (i32.ge_u (local.get $j) (local.get $n)))
            (local.set $acc (i32.const 0))
            (local.set $k (i32.const 0))
            (block $dot_done
              (loop $dot
                (br_if $dot_done (i32.ge_u (local.get $k) (local.get $n)))
                (local.set $acc
                  (i32.add (local.get $acc)
                    (i32.mul
                      (i32.load
                        (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $k))
                          (i32.const 2)))
                      (i32.load
                        (i32.add (local.get $b)
                          (i32.shl (i32.add (i32.mul (local.get $k) (local.get $n)) (local.get $j))
                            (i32.const 2)))))))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br $dot)))
            (i32.store
              (i32.add (local.get $c)
                (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2)))
              (local.get $acc))
            (local.set $sum (i32.add (local.get $sum) (local.get $acc)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $mul_j)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $mul_i)))
    (local.get $sum)))
