;;! [case]
;;! expect = "exited:0"
;;! description = "with no env granted the guest sees no variables at all (the host environment is never inherited)"
(module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $esz (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $esz (i32.const 0) (i32.const 4))) (call $exit (i32.load (i32.const 0)))))
