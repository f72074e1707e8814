;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:7"
;;! description = "fuel identity: br_if leaving a block early: the skipped code is not charged"
(module (func (export "run") (result i32)
  (block (result i32) (i32.const 7) (i32.const 1) (br_if 0) (drop) (i32.const 8) (i32.const 1) (i32.add))))
