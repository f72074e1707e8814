;;! [[wasi.dirs]]
;;! host = "fixtures/rw"
;;! guest = "/data"
;;! mode = "rw"
;;! [case]
;;! expect = "exited:0"
;;! description = "fd_pread checks only the bytes it reads against guest memory; a read of a write-only file is EBADF and a read past i64::MAX is EINVAL, whatever the guest's fuel (each bit of the exit code is one check)"
(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pread" (func $pread (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 100) "README.txt")
  (func (export "_start") (local $r i32) (local $w i32) (local $bad i32)
    ;; The read-write preopen is descriptor 3. $r: README.txt (35 bytes) for reading and
    ;; seeking (rights FD_READ | FD_SEEK); $w: the same file for writing only (FD_WRITE).
    (if (call $open (i32.const 3) (i32.const 1) (i32.const 100) (i32.const 10) (i32.const 0)
          (i64.const 6) (i64.const 6) (i32.const 0) (i32.const 200))
      (then (call $exit (i32.const 100))))
    (local.set $r (i32.load (i32.const 200)))
    (if (call $open (i32.const 3) (i32.const 1) (i32.const 100) (i32.const 10) (i32.const 0)
          (i64.const 64) (i64.const 64) (i32.const 0) (i32.const 200))
      (then (call $exit (i32.const 101))))
    (local.set $w (i32.load (i32.const 200)))
    ;; 1: a 4096-byte buffer that runs past the end of memory (2 pages end at 131072) at
    ;; 131000; the file has 35 bytes, which fit: errno 0, nread 35.
    (i32.store (i32.const 0) (i32.const 131000)) (i32.store (i32.const 4) (i32.const 4096))
    (if (i32.or (call $pread (local.get $r) (i32.const 0) (i32.const 1) (i64.const 0) (i32.const 8))
                (i32.ne (i32.load (i32.const 8)) (i32.const 35)))
      (then (local.set $bad (i32.or (local.get $bad) (i32.const 1)))))
    ;; 2: the same past the end of the file: errno 0, nread 0.
    (if (i32.or (call $pread (local.get $r) (i32.const 0) (i32.const 1) (i64.const 35) (i32.const 8))
                (i32.ne (i32.load (i32.const 8)) (i32.const 0)))
      (then (local.set $bad (i32.or (local.get $bad) (i32.const 2)))))
    ;; 3: an offset past i64::MAX: EINVAL (28).
    (i32.store (i32.const 0) (i32.const 600)) (i32.store (i32.const 4) (i32.const 16))
    (if (i32.ne (call $pread (local.get $r) (i32.const 0) (i32.const 1) (i64.const 0x8000000000000000) (i32.const 8))
                (i32.const 28))
      (then (local.set $bad (i32.or (local.get $bad) (i32.const 4)))))
    ;; 4: reading the write-only descriptor: EBADF (8).
    (if (i32.ne (call $read (local.get $w) (i32.const 0) (i32.const 1) (i32.const 8)) (i32.const 8))
      (then (local.set $bad (i32.or (local.get $bad) (i32.const 8)))))
    (call $exit (local.get $bad))))
