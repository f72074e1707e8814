;;! [[wasi.dirs]]
;;! host = "fixtures/rw"
;;! guest = "/data"
;;! mode = "rw"
;;! [[case.make]]
;;! path = "pipe"
;;! kind = "fifo"
;;! [case]
;;! expect = "exited:0"
;;! description = "path_open of a FIFO inside a granted directory never blocks the host: reading, writing and FDFLAGS_NONBLOCK all answer ENOTSUP (58) at once (exit code: the three errnos otherwise)"
(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "pipe")
  (func $try (param $rights i64) (param $fdflags i32) (result i32)
    (call $open (i32.const 3) (i32.const 0) (i32.const 1024) (i32.const 4)
      (i32.const 0) (local.get $rights) (i64.const 0) (local.get $fdflags) (i32.const 0)))
  (func (export "_start") (local $a i32) (local $b i32) (local $c i32)
    (local.set $a (call $try (i64.const 2) (i32.const 0)))   ;; read
    (local.set $b (call $try (i64.const 64) (i32.const 0)))  ;; write
    (local.set $c (call $try (i64.const 2) (i32.const 4)))   ;; read, nonblocking
    (if (i32.and (i32.and (i32.eq (local.get $a) (i32.const 58)) (i32.eq (local.get $b) (i32.const 58)))
                 (i32.eq (local.get $c) (i32.const 58)))
      (then (call $exit (i32.const 0))))
    (call $exit (i32.add (i32.add (i32.mul (local.get $a) (i32.const 10000)) (i32.mul (local.get $b) (i32.const 100))) (local.get $c)))))
