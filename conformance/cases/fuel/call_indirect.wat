;;! [limits]
;;! fuel = 100_000
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:out_of_fuel"
;;! description = "a loop of indirect calls runs out of fuel"
(module
  (type $t (func))
  (table 1 funcref)
  (elem (i32.const 0) $nop)
  (func $nop)
  (func (export "run") (loop (call_indirect (type $t) (i32.const 0)) (br 0))))
