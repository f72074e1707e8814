;;! [case]
;;! expect = "rejected:feature_disabled"
;;! description = "i32.add in a constant expression needs extended_const"
(module (global i32 (i32.add (i32.const 1) (i32.const 2))))
