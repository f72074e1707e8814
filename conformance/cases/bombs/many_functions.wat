;;! [limits]
;;! max_functions = 100
;;! [case]
;;! expect = "rejected:limit_exceeded"
;;! description = "more functions than limits.max_functions"
(module (func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func)(func))
