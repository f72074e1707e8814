;;! [limits]
;;! max_files_created = 5
;;! [[wasi.dirs]]
;;! host = "fixtures/rw"
;;! guest = "/data"
;;! mode = "rw"
;;! [case]
;;! expect = "exited:0"
;;! description = "limits.max_files_created = 5: five directories are made, then a directory, a new file and a symbolic link each fail with EDQUOT (19), while opening an existing file with O_CREAT (no creation) still works (exit code: a bitmask of what went wrong otherwise)"
(module
  (import "wasi_snapshot_preview1" "path_create_directory" (func $mkdir (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink" (func $symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "d0")
  (data (i32.const 1100) "new.txt")
  (data (i32.const 1200) "README.txt")
  (data (i32.const 1300) "link")
  (func (export "_start") (local $i i32) (local $bad i32)
    (loop $l
      (i32.store8 (i32.const 1025) (i32.add (i32.const 48) (local.get $i)))
      (if (i32.ne (call $mkdir (i32.const 3) (i32.const 1024) (i32.const 2))
                  (select (i32.const 0) (i32.const 19) (i32.lt_u (local.get $i) (i32.const 5))))
        (then (local.set $bad (i32.or (local.get $bad) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 7))))
    (if (i32.ne (call $open (i32.const 3) (i32.const 0) (i32.const 1100) (i32.const 7)
          (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 0)) (i32.const 19))
      (then (local.set $bad (i32.or (local.get $bad) (i32.const 2)))))
    (if (i32.ne (call $symlink (i32.const 1200) (i32.const 10) (i32.const 3) (i32.const 1300) (i32.const 4)) (i32.const 19))
      (then (local.set $bad (i32.or (local.get $bad) (i32.const 4)))))
    (if (i32.ne (call $open (i32.const 3) (i32.const 0) (i32.const 1200) (i32.const 10)
          (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 0)) (i32.const 0))
      (then (local.set $bad (i32.or (local.get $bad) (i32.const 8)))))
    (call $exit (local.get $bad))))
