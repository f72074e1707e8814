;;! [limits]
;;! fuel = 10_000_000
;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:11"
;;! description = "fuel identity: the start function and the call both count; instantiation does not"
(module (global $g (mut i32) (i32.const 0)) (memory 1) (data (i32.const 0) "segments are free")
  (func $s (global.set $g (i32.const 10))) (start $s) (func (export "run") (result i32) (i32.add (global.get $g) (i32.const 1))))
