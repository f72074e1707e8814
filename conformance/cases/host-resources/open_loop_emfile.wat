;;! [limits]
;;! max_open_files = 16
;;! [[wasi.dirs]]
;;! host = "fixtures/ro"
;;! guest = "/data"
;;! [case]
;;! expect = "exited:0"
;;! description = "a guest opening a file in a loop gets EMFILE (33) at limits.max_open_files: stdio and the preopen hold 4, so exactly 12 opens succeed (exit code 1000 * errno + opens otherwise)"
(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "file.txt")
  (func (export "_start") (local $n i32) (local $r i32)
    (block $done
      (loop $l
        (local.set $r (call $open (i32.const 3) (i32.const 0) (i32.const 1024) (i32.const 8)
          (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0)))
        (br_if $done (local.get $r))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $n) (i32.const 100000)))))
    (if (i32.and (i32.eq (local.get $r) (i32.const 33)) (i32.eq (local.get $n) (i32.const 12)))
      (then (call $exit (i32.const 0))))
    (call $exit (i32.add (i32.mul (local.get $r) (i32.const 1000)) (local.get $n)))))
