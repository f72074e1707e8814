;;! [case]
;;! expect = "rejected:invalid_module"
;;! description = "a type section claiming 4 billion entries"
(module binary "\00asm\01\00\00\00\01\05\ff\ff\ff\ff\0f")
