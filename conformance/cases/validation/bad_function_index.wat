;;! [case]
;;! expect = "rejected:invalid_module"
;;! description = "a call to a function that does not exist"
(module binary "\00asm\01\00\00\00\01\04\01\60\00\00\03\02\01\00\0a\06\01\04\00\10\05\0b")
