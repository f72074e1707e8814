;;! [case]
;;! expect = "rejected:feature_disabled"
;;! description = "a shared memory needs threads, off by default"
(module (memory 1 1 shared))
