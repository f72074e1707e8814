;; A WASI command that creates `out.txt` in the first preopened directory (fd 3) and exits with
;; the errno of `path_open` (0 = created; 63 = EPERM on a read-only directory).
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "out.txt")
  (func (export "_start")
    ;; dirfd 3, follow symlinks, path "out.txt", O_CREAT, rights FD_WRITE, fd out at 200
    (call $exit (call $open (i32.const 3) (i32.const 1) (i32.const 100) (i32.const 7) (i32.const 1)
      (i64.const 0x40) (i64.const 0) (i32.const 0) (i32.const 200)))))
