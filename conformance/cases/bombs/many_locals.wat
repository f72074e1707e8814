;;! [limits]
;;! max_locals = 100
;;! [case]
;;! expect = "rejected:limit_exceeded"
;;! description = "a function declaring more locals than limits.max_locals (one declaration of 1000 i64s)"
(module binary "\00asm\01\00\00\00\01\04\01\60\00\00\03\02\01\00\0a\07\01\05\01\e8\07\7e\0b")
