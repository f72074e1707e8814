;;! [case]
;;! expect = "rejected:invalid_module"
;;! description = "a section whose size runs past the end of the file"
(module binary "\00asm\01\00\00\00\01\ff\00")
