;;! [[wasi.dirs]]
;;! host = "fixtures/ro"
;;! guest = "/data"
;;! [case]
;;! expect = "exited:0"
;;! description = "under a read-only preopen fd_filestat_set_size, fd_filestat_set_times, path_filestat_set_times, path_link and path_remove_directory all fail with EPERM (63) and change nothing (exit code: a bitmask of the calls that did not answer EPERM otherwise)"
(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_size" (func $set_size (param i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_times" (func $fd_times (param i32 i64 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_set_times" (func $path_times (param i32 i32 i32 i32 i64 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_link" (func $link (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_remove_directory" (func $rmdir (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "file.txt")
  (data (i32.const 1100) "copy.txt")
  (data (i32.const 1200) "sub")
  (func $bit (param $r i32) (param $b i32) (result i32)
    (select (i32.const 0) (local.get $b) (i32.eq (local.get $r) (i32.const 63))))
  (func (export "_start") (local $fd i32) (local $bad i32)
    (if (call $open (i32.const 3) (i32.const 0) (i32.const 1024) (i32.const 8)
          (i32.const 0) (i64.const 0xc00002) (i64.const 0) (i32.const 0) (i32.const 0))
      (then (call $exit (i32.const 100))))
    (local.set $fd (i32.load (i32.const 0)))
    (local.set $bad (call $bit (call $set_size (local.get $fd) (i64.const 0)) (i32.const 1)))
    (local.set $bad (i32.or (local.get $bad)
      (call $bit (call $fd_times (local.get $fd) (i64.const 0) (i64.const 0) (i32.const 5)) (i32.const 2))))
    (local.set $bad (i32.or (local.get $bad)
      (call $bit (call $path_times (i32.const 3) (i32.const 1) (i32.const 1024) (i32.const 8) (i64.const 0) (i64.const 0) (i32.const 5)) (i32.const 4))))
    (local.set $bad (i32.or (local.get $bad)
      (call $bit (call $link (i32.const 3) (i32.const 0) (i32.const 1024) (i32.const 8) (i32.const 3) (i32.const 1100) (i32.const 8)) (i32.const 8))))
    (local.set $bad (i32.or (local.get $bad)
      (call $bit (call $rmdir (i32.const 3) (i32.const 1200) (i32.const 3)) (i32.const 16))))
    (call $exit (local.get $bad))))
