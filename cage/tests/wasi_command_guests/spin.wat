;; A WASI command whose `_start` never ends: only fuel (or a deadline) stops it.
(module
  (memory (export "memory") 1)
  (func (export "_start") (loop $forever (br $forever))))
