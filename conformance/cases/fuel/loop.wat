;;! [limits]
;;! fuel = 100_000
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:out_of_fuel"
;;! description = "an empty infinite loop is stopped by fuel"
(module (func (export "run") (loop br 0)))
