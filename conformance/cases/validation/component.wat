;;! [case]
;;! expect = "rejected:invalid_module"
;;! description = "a component is not a core module"
(component)
