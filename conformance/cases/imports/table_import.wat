;;! [case]
;;! expect = "rejected:unresolved_import"
;;! description = "an imported table the host does not provide"
(module (import "env" "t" (table 1 funcref)))
