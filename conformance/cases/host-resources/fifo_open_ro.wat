;;! [[wasi.dirs]]
;;! host = "fixtures/ro"
;;! guest = "/data"
;;! [[case.make]]
;;! path = "pipe"
;;! kind = "fifo"
;;! [case]
;;! expect = "exited:58"
;;! description = "path_open of a FIFO inside a read-only directory answers ENOTSUP (58) at once instead of waiting for a writer"
(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "pipe")
  (func (export "_start")
    (call $exit (call $open (i32.const 3) (i32.const 0) (i32.const 1024) (i32.const 4)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0)))))
