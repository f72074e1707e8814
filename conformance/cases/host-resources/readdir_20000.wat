;;! [limits]
;;! fuel = 50_000_000
;;! [[wasi.dirs]]
;;! host = "fixtures/ro"
;;! guest = "/data"
;;! [[case.make]]
;;! path = "big"
;;! kind = "files"
;;! count = 20_000
;;! [case]
;;! expect = "exited:0"
;;! description = "one full fd_readdir pass over 20 000 entries, 64 bytes at a time (about 14 000 calls): the listing is read from the host once and paid per entry, so the pass completes within its fuel and sees every entry once (exit code: entries seen otherwise)"
(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir" (func $readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "big")
  (func (export "_start") (local $r i32) (local $fd i32) (local $cookie i64) (local $used i32)
      (local $pos i32) (local $len i32) (local $n i32)
    (local.set $r (call $open (i32.const 3) (i32.const 0) (i32.const 1024) (i32.const 3)
      (i32.const 2) (i64.const 0x4002) (i64.const 0) (i32.const 0) (i32.const 0)))
    (if (local.get $r) (then (call $exit (i32.add (i32.const 100000) (local.get $r)))))
    (local.set $fd (i32.load (i32.const 0)))
    (block $end
      (loop $call
        (local.set $r (call $readdir (local.get $fd) (i32.const 2048) (i32.const 64) (local.get $cookie) (i32.const 16)))
        (if (local.get $r) (then (call $exit (i32.add (i32.const 200000) (local.get $r)))))
        (local.set $used (i32.load (i32.const 16)))
        (local.set $pos (i32.const 0))
        (block $parsed
          (loop $entry
            (br_if $parsed (i32.gt_u (i32.add (local.get $pos) (i32.const 24)) (local.get $used)))
            (local.set $len (i32.load (i32.add (i32.const 2064) (local.get $pos))))
            (br_if $parsed (i32.gt_u (i32.add (i32.add (local.get $pos) (i32.const 24)) (local.get $len)) (local.get $used)))
            (local.set $cookie (i64.load (i32.add (i32.const 2048) (local.get $pos))))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (local.set $pos (i32.add (local.get $pos) (i32.add (i32.const 24) (local.get $len))))
            (br $entry)))
        (br_if $end (i32.lt_u (local.get $used) (i32.const 64)))
        (br $call)))
    (call $exit (select (i32.const 0) (local.get $n) (i32.eq (local.get $n) (i32.const 20002))))))
