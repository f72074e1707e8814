;;! [case]
;;! expect = "rejected:feature_disabled"
;;! description = "a struct type needs gc, off by default"
(module (type (struct (field i32))))
