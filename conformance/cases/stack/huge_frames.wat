;;! [case]
;;! invoke = "run"
;;! expect = "trapped:stack_overflow"
;;! description = "recursion through a function with hundreds of live locals"
(module
  (func $f (export "run") (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
    i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
    i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
    (local.set 0 (i64.const 1))
    (call $f)
    (drop (i64.add (local.get 0) (local.get 47)))))
