;;! [case]
;;! expect = "rejected:invalid_module"
;;! description = "a wrong magic number"
(module binary "\00asx\01\00\00\00")
