;;! [limits]
;;! fuel = 50_000
;;! max_stack = "8 MiB"
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:out_of_fuel"
;;! description = "shallow but endless recursion (a tail of calls that always returns) runs out of fuel"
(module
  (func $f (param i32)
    (if (i32.gt_u (local.get 0) (i32.const 0))
      (then (call $f (i32.sub (local.get 0) (i32.const 1)))))
  )
  (func (export "run") (loop (call $f (i32.const 10)) (br 0))))
