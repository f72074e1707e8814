;;! [case]
;;! expect = "rejected:unresolved_import"
;;! description = "an imported global the host does not provide"
(module (import "env" "g" (global i32)))
