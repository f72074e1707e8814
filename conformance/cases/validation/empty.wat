;;! [case]
;;! expect = "rejected:invalid_module"
;;! description = "an empty file"
(module binary "")
