;;! [case]
;;! expect = "exited:0"
;;! expect_stdout = "hello\n"
;;! description = "a WASI command writes to stdout and returns from _start"
(module (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1) (data (i32.const 100) "hello\n")
  (func (export "_start") (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 20)))))
