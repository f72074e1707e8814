;;! [limits]
;;! fuel = 1_000_000
;;! [case]
;;! description = "fuzz seed 187: fuel consumed since the last save point is lost when a call traps (Wasmtime's rule); the next call starts from the same fuel everywhere"
;;! before = ["work_then_trap"]
;;! invoke = "after"
;;! expect = "returned:i32:1"
(module
  (global $g (mut i32) (i32.const 0))
  (func (export "work_then_trap") (local i32)
    ;; charged at the loop header and branch, then straight-line work that no save point
    ;; follows before the division traps
    (block (br 0))
    (local.set 0 (i32.const 5))
    (global.set $g (i32.add (local.get 0) (i32.const 1)))
    (global.set $g (i32.mul (global.get $g) (i32.const 3)))
    (global.set $g (i32.xor (global.get $g) (i32.const 7)))
    (drop (i32.div_s (global.get $g) (i32.const 0))))
  (func (export "after") (result i32) (i32.const 1)))
