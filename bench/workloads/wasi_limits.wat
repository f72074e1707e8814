;; The hostile WASI guest of `cargo run --release -p cage-bench --example wasi_limits`: each export
;; is one attack of issue 21, run against a read-only preopen at fd 3 that holds `f` (a small
;; file), `big.bin` (60 MiB, sparse), `pipe` (a FIFO) or, for `readdir_pass`, N empty files.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $rand (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir"
    (func $readdir (param i32 i32 i32 i64 i32) (result i32)))
  ;; 62.5 MiB: room for a 60 MiB buffer at 64 KiB, under the default preset's 64 MiB.
  (memory (export "memory") 1000)
  (data (i32.const 1024) "f")
  (data (i32.const 1032) "big.bin")
  (data (i32.const 1040) "pipe")

  ;; Opens the path at [ptr, ptr+len) in fd 3 for reading; the errno, the descriptor at 0.
  (func $open_ro (param $ptr i32) (param $len i32) (result i32)
    (call $open (i32.const 3) (i32.const 0) (local.get $ptr) (local.get $len)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0)))

  ;; random_get of `len` bytes into memory at 64 KiB: its errno.
  (func (export "rand") (param $len i32) (result i32)
    (call $rand (i32.const 65536) (local.get $len)))

  ;; Opens big.bin and reads `len` bytes of it into memory at 64 KiB: the read's errno.
  (func (export "read_file") (param $len i32) (result i32) (local $r i32)
    (local.set $r (call $open_ro (i32.const 1032) (i32.const 7)))
    (if (local.get $r) (then (return (i32.add (i32.const 1000) (local.get $r)))))
    (i32.store (i32.const 16) (i32.const 65536))
    (i32.store (i32.const 20) (local.get $len))
    (call $read (i32.load (i32.const 0)) (i32.const 16) (i32.const 1) (i32.const 8)))

  ;; Opens `f` until an open fails: errno * 1 000 000 + opens.
  (func (export "open_loop") (result i64) (local $r i32) (local $n i32)
    (block $done
      (loop $l
        (local.set $r (call $open_ro (i32.const 1024) (i32.const 1)))
        (br_if $done (local.get $r))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $n) (i32.const 1000000)))))
    (i64.add (i64.mul (i64.extend_i32_u (local.get $r)) (i64.const 1000000))
      (i64.extend_i32_u (local.get $n))))

  ;; Opens the FIFO `pipe` for reading: its errno.
  (func (export "open_fifo") (result i32)
    (call $open_ro (i32.const 1040) (i32.const 4)))

  ;; One full fd_readdir pass over fd 3, 64 bytes at a time, resuming at the cookie of the last
  ;; whole entry: the entries seen (`.` and `..` included), or minus the errno.
  (func (export "readdir_pass") (result i64)
    (local $cookie i64) (local $used i32) (local $off i32) (local $len i32) (local $n i64)
    (local $r i32)
    (loop $next
      (local.set $r (call $readdir (i32.const 3) (i32.const 4096) (i32.const 64)
        (local.get $cookie) (i32.const 8)))
      (if (local.get $r) (then (return (i64.sub (i64.const 0) (i64.extend_i32_u (local.get $r))))))
      (local.set $used (i32.load (i32.const 8)))
      (local.set $off (i32.const 0))
      (block $buf_done
        (loop $entry
          ;; A whole header, then a whole name, or the next call starts there.
          (br_if $buf_done (i32.gt_u (i32.add (local.get $off) (i32.const 24)) (local.get $used)))
          (local.set $len (i32.load offset=4112 (local.get $off)))
          (br_if $buf_done
            (i32.gt_u (i32.add (i32.add (local.get $off) (i32.const 24)) (local.get $len))
              (local.get $used)))
          (local.set $cookie (i64.load offset=4096 (local.get $off)))
          (local.set $n (i64.add (local.get $n) (i64.const 1)))
          (local.set $off (i32.add (local.get $off) (i32.add (i32.const 24) (local.get $len))))
          (br $entry)))
      ;; A full buffer: there may be more.
      (br_if $next (i32.eq (local.get $used) (i32.const 64))))
    (local.get $n)))
