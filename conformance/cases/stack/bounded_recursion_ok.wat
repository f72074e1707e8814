;;! [case]
;;! invoke = "run"
;;! args = ["i32:1000"]
;;! expect = "returned:i32:1000"
;;! description = "recursion 1000 deep fits the default 512 KiB stack"
(module
  (func $f (export "run") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $f (i32.sub (local.get 0) (i32.const 1))))))))
