;;! [case]
;;! expect = "rejected:feature_disabled"
;;! description = "a 64-bit memory needs memory64, off by default"
(module (memory i64 1))
