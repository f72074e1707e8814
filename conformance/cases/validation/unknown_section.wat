;;! [case]
;;! expect = "rejected:invalid_module"
;;! description = "an unknown section id"
(module binary "\00asm\01\00\00\00\42\00")
