;;! [case]
;;! expect = "rejected:unresolved_import"
;;! description = "an import nobody provides"
(module (import "env" "launch_missiles" (func)))
