;;! [case]
;;! expect = "rejected:invalid_module"
;;! description = "a LEB128 count with too many bytes"
(module binary "\00asm\01\00\00\00\01\07\80\80\80\80\80\80\00")
