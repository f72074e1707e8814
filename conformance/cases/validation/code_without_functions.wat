;;! [case]
;;! expect = "rejected:invalid_module"
;;! description = "a code section with more bodies than declared functions"
(module binary "\00asm\01\00\00\00\0a\04\01\02\00\0b")
