;;! [limits]
;;! fuel = 1_000_000
;;! [case]
;;! invoke = "cage:fuel"
;;! expect = "returned:i32:7,i32:42"
;;! description = "a guest may name its exports anything: globals, memories and functions called cage:flag, cage:fuel, cage:memory:0 behave the same on every runtime (Cage's own bookkeeping names never collide)"
(module
  (memory (export "cage:memory:0") 1)
  (global (export "cage:flag") (mut i32) (i32.const 7))
  (global (export "cage1:fuel") (mut i64) (i64.const 5))
  (data (i32.const 0) "\2a")
  (func (export "cage:fuel") (result i32 i32)
    (global.get 0) (i32.load8_u (i32.const 0))))
