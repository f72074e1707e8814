;;! [case]
;;! expect = "rejected:invalid_module"
;;! description = "an unterminated LEB128 section size"
(module binary "\00asm\01\00\00\00\01\ff\ff\ff\ff\ff")
