;; A WASI command that prints its environment, then its stdin.
;;
;; Each variable, found through the pointers environ_get fills in, is written up to its NUL and
;; followed by "\n"; then stdin is copied to stdout, 512 bytes a read, until end of file.
;; A failed call exits with a code of its own (10-31), so that a failure is never silent.
(module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  ;; 0: variable count; 4: size of the strings; 8: an iovec; 16: bytes read or written;
  ;; 48: "\n"; 64: the variables' pointers (up to 200); 1024: their strings (up to 3072 bytes);
  ;; 4096: the stdin buffer (512 bytes).
  (memory (export "memory") 1)
  (data (i32.const 48) "\n")

  ;; Writes `len` bytes at `ptr` to stdout, all of them.
  (func $out (param $ptr i32) (param $len i32)
    (i32.store (i32.const 8) (local.get $ptr))
    (i32.store (i32.const 12) (local.get $len))
    (if (call $write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16))
      (then (call $exit (i32.const 20))))
    (if (i32.ne (i32.load (i32.const 16)) (local.get $len))
      (then (call $exit (i32.const 21)))))

  ;; The length of the NUL-terminated string at `p`.
  (func $strlen (param $p i32) (result i32) (local $n i32)
    (block $end
      (loop $next
        (br_if $end (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  (func (export "_start") (local $i i32) (local $p i32) (local $len i32) (local $total i32)
    (local $n i32)
    (if (call $sizes (i32.const 0) (i32.const 4)) (then (call $exit (i32.const 10))))
    (if (i32.gt_u (i32.load (i32.const 0)) (i32.const 200)) (then (call $exit (i32.const 11))))
    (if (i32.gt_u (i32.load (i32.const 4)) (i32.const 3072)) (then (call $exit (i32.const 12))))
    (if (call $environ (i32.const 64) (i32.const 1024)) (then (call $exit (i32.const 13))))
    (block $done
      (loop $var
        (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.const 0))))
        (local.set $p (i32.load (i32.add (i32.const 64) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $len (call $strlen (local.get $p)))
        (local.set $total (i32.add (local.get $total) (i32.add (local.get $len) (i32.const 1))))
        (call $out (local.get $p) (local.get $len))
        (call $out (i32.const 48) (i32.const 1))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $var)))
    ;; The strings, NULs included, fill exactly the size environ_sizes_get gave.
    (if (i32.ne (local.get $total) (i32.load (i32.const 4))) (then (call $exit (i32.const 14))))
    (block $eof
      (loop $more
        (i32.store (i32.const 8) (i32.const 4096))
        (i32.store (i32.const 12) (i32.const 512))
        (if (call $read (i32.const 0) (i32.const 8) (i32.const 1) (i32.const 16))
          (then (call $exit (i32.const 30))))
        (local.set $n (i32.load (i32.const 16)))
        (br_if $eof (i32.eqz (local.get $n)))
        (if (i32.gt_u (local.get $n) (i32.const 512)) (then (call $exit (i32.const 31))))
        (call $out (i32.const 4096) (local.get $n))
        (br $more)))))
