;;! [case]
;;! expect = "exited:7"
;;! description = "proc_exit from a start function ends the run as exited"
(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1) (func $s (call $exit (i32.const 7))) (start $s)
  (func (export "_start") unreachable))
