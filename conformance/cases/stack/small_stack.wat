;;! [limits]
;;! max_stack = "64 KiB"
;;! [case]
;;! invoke = "run"
;;! args = ["i32:100000"]
;;! expect = "trapped:stack_overflow"
;;! description = "recursion 100000 deep overflows a 64 KiB guest stack"
(module
  (func $f (export "run") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $f (i32.sub (local.get 0) (i32.const 1))))))))
