;;! [limits]
;;! fuel = 100_000
;;! [case]
;;! expect = "trapped:out_of_fuel"
;;! description = "an endless loop in the start function runs out of fuel during instantiation"
(module (func $start (loop br 0)) (start $start))
