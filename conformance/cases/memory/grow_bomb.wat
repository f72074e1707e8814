;;! [limits]
;;! max_memory = "4 MiB"
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:64"
;;! description = "a loop growing memory page by page stops at the cap: grow returns -1 and the loop ends"
(module
  (memory 1)
  (func (export "run") (result i32)
    (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    (memory.size)))
