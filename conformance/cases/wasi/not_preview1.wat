;;! [case]
;;! expect = "rejected:unresolved_import"
;;! description = "a WASIX socket call is not WASI preview 1: unresolved"
(module (import "wasi_snapshot_preview1" "sock_open" (func (param i32 i32 i32 i32) (result i32))) (memory (export "memory") 1) (func (export "_start")))
