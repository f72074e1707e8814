;;! [limits]
;;! fuel = 100_000
;;! [case]
;;! invoke = "run"
;;! args = ["i32:7"]
;;! expect = "trapped:out_of_fuel"
;;! description = "the case-format example: a loop that takes an argument"
(module (func (export "run") (param i32) (loop br 0)))
