;;! [case]
;;! expect = "rejected:invalid_module"
;;! description = "version 2 of the binary format"
(module binary "\00asm\02\00\00\00")
