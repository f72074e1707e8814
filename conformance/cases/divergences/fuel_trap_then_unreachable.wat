;;! [limits]
;;! fuel = 1000
;;! [case]
;;! before = ["spin"]
;;! invoke = "boom"
;;! expect = "trapped:out_of_fuel"
;;! description = "after running out of fuel, a later call is out of fuel too (its entry is charged), never a stale classification of the flag"
(module
  (func (export "spin") (loop br 0))
  (func (export "boom") unreachable))
