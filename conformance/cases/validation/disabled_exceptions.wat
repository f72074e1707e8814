;;! [case]
;;! expect = "rejected:feature_disabled"
;;! description = "a tag needs exceptions, off by default"
(module (tag))
