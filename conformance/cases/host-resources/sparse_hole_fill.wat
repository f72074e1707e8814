;;! [limits]
;;! max_disk_write = "1 MiB"
;;! [[wasi.dirs]]
;;! host = "fixtures/rw"
;;! guest = "/data"
;;! mode = "rw"
;;! [[case.make]]
;;! path = "holes"
;;! kind = "file"
;;! count = 67_108_864
;;! [case]
;;! expect = "exited:0"
;;! description = "a 64 MiB sparse file already in a read-write preopen (a preallocated image, a database file) takes no disk; a guest under limits.max_disk_write = 1 MiB fills its holes with 16 MiB of data by plain writes from offset 0, which count as overwriting: the quota stops it at 1 MiB of new disk (ENOSPC, 51): bytes landing in a hole count as growth (a block already allocated by an earlier write does not, so a little more than 1 MiB of writes fit). Exit code: 1000 * errno + MiB written otherwise (before holes were counted: 16, every byte written, nothing counted)"
(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 1024) "holes")
  (func (export "_start") (local $r i32) (local $fd i32) (local $total i32)
    ;; open the existing file for writing: no O_CREAT, no O_TRUNC
    (local.set $r (call $open (i32.const 3) (i32.const 0) (i32.const 1024) (i32.const 5)
      (i32.const 0) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 0)))
    (if (local.get $r) (then (call $exit (i32.add (i32.const 100000) (local.get $r)))))
    (local.set $fd (i32.load (i32.const 0)))
    (memory.fill (i32.const 2048) (i32.const 0x5a) (i32.const 60000))
    (i32.store (i32.const 16) (i32.const 2048))
    (i32.store (i32.const 20) (i32.const 60000))
    (block $done
      (loop $l
        (local.set $r (call $write (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 32)))
        (br_if $done (local.get $r))
        (local.set $total (i32.add (local.get $total) (i32.load (i32.const 32))))
        (br_if $l (i32.lt_u (local.get $total) (i32.const 0x1000000)))))
    (if (i32.and (i32.eq (local.get $r) (i32.const 51)) (i32.le_u (local.get $total) (i32.const 0x110000)))
      (then (call $exit (i32.const 0))))
    (call $exit (i32.add (i32.mul (local.get $r) (i32.const 1000)) (i32.shr_u (local.get $total) (i32.const 20))))))
