;;! [[wasi.dirs]]
;;! host = "links"
;;! guest = "/data"
;;! mode = "ro"
;;! [case]
;;! expect = "exited:0"
;;! expect_stdout = "inside\n"
;;! description = "symlinks already in a preopened host directory: one pointing inside opens and reads, one pointing out of the directory (relative or absolute) does not open"
(module
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $prestat_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 2)
  ;; The descriptor of the preopen whose name ends in "data", or -1.
  (func $find (result i32) (local $fd i32) (local $len i32)
    (local.set $fd (i32.const 3))
    (block $done
      (loop $l
        (if (i32.eqz (call $prestat (local.get $fd) (i32.const 400)))
          (then
            (local.set $len (i32.load (i32.const 404)))
            (if (i32.and (i32.ge_u (local.get $len) (i32.const 4)) (i32.le_u (local.get $len) (i32.const 64)))
              (then
                (drop (call $prestat_name (local.get $fd) (i32.const 420) (local.get $len)))
                (br_if $done (i32.eq (i32.load (i32.add (i32.const 416) (local.get $len))) (i32.const 0x61746164)))))))
        (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $fd) (i32.const 32))))
      (local.set $fd (i32.const -1)))
    (local.get $fd))
  ;; 1 when path_open(dir, path) for reading, following symlinks, succeeds (the fd is stored at 500).
  (func $opened (param $dir i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.eqz (call $open (local.get $dir) (i32.const 1) (local.get $ptr) (local.get $len) (i32.const 0)
      (i64.const 2) (i64.const 2) (i32.const 0) (i32.const 500))))
  (data (i32.const 100) "inside") (data (i32.const 120) "outside") (data (i32.const 140) "absolute")
  (func (export "_start") (local $d i32) (local $bad i32)
    (local.set $d (call $find))
    (if (i32.lt_s (local.get $d) (i32.const 0)) (then (call $exit (i32.const 100))))
    ;; inside: open, read into 1000, echo to stdout
    (if (i32.eqz (call $opened (local.get $d) (i32.const 100) (i32.const 6)))
      (then (local.set $bad (i32.const 1)))
      (else
        (i32.store (i32.const 600) (i32.const 1000)) (i32.store (i32.const 604) (i32.const 64))
        (drop (call $fd_read (i32.load (i32.const 500)) (i32.const 600) (i32.const 1) (i32.const 608)))
        (i32.store (i32.const 604) (i32.load (i32.const 608)))
        (drop (call $fd_write (i32.const 1) (i32.const 600) (i32.const 1) (i32.const 612)))))
    (local.set $bad (i32.or (local.get $bad) (i32.shl (call $opened (local.get $d) (i32.const 120) (i32.const 7)) (i32.const 1))))
    (local.set $bad (i32.or (local.get $bad) (i32.shl (call $opened (local.get $d) (i32.const 140) (i32.const 8)) (i32.const 2))))
    (call $exit (local.get $bad))))
