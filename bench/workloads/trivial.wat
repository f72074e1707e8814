;; The instance-per-request module: a memory with a data segment and one trivial export,
;; `run(x) = x + 1`. Measures per-call and per-instance overhead, nothing else.
(module
  (memory 1)
  (data (i32.const 16) "cage")
  (func (export "run") (param $x i32) (result i32)
    (i32.add (local.get $x) (i32.const 1))))
