;;! [case]
;;! expect = "rejected:invalid_module"
;;! description = "two type sections"
(module binary "\00asm\01\00\00\00\01\01\00\01\01\00")
