;;! [case]
;;! expect = "rejected:invalid_module"
;;! description = "a header cut after the magic number"
(module binary "\00asm\01\00")
