;;! [case]
;;! expect = "rejected:invalid_module"
;;! description = "local.get of a local that does not exist"
(module (func (drop (local.get 3))))
