;;! [case]
;;! expect = "rejected:unresolved_import"
;;! description = "a WASI import on a runtime built without WASI is unresolved"
(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))))
