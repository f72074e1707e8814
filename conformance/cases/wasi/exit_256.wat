;;! [case]
;;! expect = "exited:256"
;;! description = "proc_exit(256) is exited 256 on every runtime"
(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const 256)) unreachable))
