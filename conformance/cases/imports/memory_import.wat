;;! [case]
;;! expect = "rejected:unresolved_import"
;;! description = "an imported memory the host does not provide"
(module (import "env" "memory" (memory 1)))
