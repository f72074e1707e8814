;;! [case]
;;! expect = "exited:126"
;;! description = "proc_exit(126) is exited 126 on every runtime"
(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const 126)) unreachable))
