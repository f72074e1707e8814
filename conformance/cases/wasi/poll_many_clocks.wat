;;! [case]
;;! expect = "exited:0"
;;! expect_stdout = "errno=0 events=50000 even_clock=1\n"
;;! description = "one poll_oneoff with 100 000 relative monotonic clock subscriptions (4.8 MB, within limits.max_io_per_call), 1 ms at even indices and 2 ms at odd ones: Cage waits 1 ms and reports every subscription due then, the 50 000 of 1 ms (wasmtime-wasi reports at most 128 per call, tokio's cooperative budget: declared in docs/wasi.md). Prints the errno, the event count, and whether every event is a clock event with an even userdata"
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 128)
  (global $out (mut i32) (i32.const 1024))
  ;; Appends the decimal digits of $v to the output.
  (func $num (param $v i32) (local $div i32)
    (local.set $div (i32.const 1))
    (block $top
      (loop $up
        (br_if $top (i32.ge_u (local.get $div) (i32.const 1000000000)))
        (br_if $top (i32.gt_u (i32.mul (local.get $div) (i32.const 10)) (local.get $v)))
        (local.set $div (i32.mul (local.get $div) (i32.const 10)))
        (br $up)))
    (loop $d
      (i32.store8 (global.get $out) (i32.add (i32.const 48) (i32.rem_u (i32.div_u (local.get $v) (local.get $div)) (i32.const 10))))
      (global.set $out (i32.add (global.get $out) (i32.const 1)))
      (local.set $div (i32.div_u (local.get $div) (i32.const 10)))
      (br_if $d (local.get $div))))
  (func $str (param $ptr i32) (param $len i32)
    (memory.copy (global.get $out) (local.get $ptr) (local.get $len))
    (global.set $out (i32.add (global.get $out) (local.get $len))))
  (data (i32.const 200) "errno=") (data (i32.const 210) " events=") (data (i32.const 220) " even_clock=")
  (func (export "_start") (local $i i32) (local $s i32) (local $errno i32) (local $n i32) (local $ok i32) (local $e i32)
    ;; 100 000 subscriptions of 48 bytes from 65 536: userdata i, clock, monotonic, relative.
    (loop $fill
      (local.set $s (i32.add (i32.const 65536) (i32.mul (local.get $i) (i32.const 48))))
      (i64.store (local.get $s) (i64.extend_i32_u (local.get $i)))
      (i32.store8 (i32.add (local.get $s) (i32.const 8)) (i32.const 0))
      (i32.store (i32.add (local.get $s) (i32.const 16)) (i32.const 1))
      (i64.store (i32.add (local.get $s) (i32.const 24))
        (select (i64.const 2000000) (i64.const 1000000) (i32.and (local.get $i) (i32.const 1))))
      (i64.store (i32.add (local.get $s) (i32.const 32)) (i64.const 0))
      (i32.store16 (i32.add (local.get $s) (i32.const 40)) (i32.const 0))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const 100000))))
    (local.set $errno (call $poll (i32.const 65536) (i32.const 4865536) (i32.const 100000) (i32.const 512)))
    (local.set $n (i32.load (i32.const 512)))
    ;; Every event: type clock (byte 10 = 0), error 0, an even userdata.
    (local.set $ok (i32.const 1))
    (local.set $i (i32.const 0))
    (block $done
      (loop $check
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $e (i32.add (i32.const 4865536) (i32.mul (local.get $i) (i32.const 32))))
        (if (i32.or (i32.or (i32.load8_u (i32.add (local.get $e) (i32.const 10)))
                            (i32.load16_u (i32.add (local.get $e) (i32.const 8))))
                    (i32.and (i32.load (local.get $e)) (i32.const 1)))
          (then (local.set $ok (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $check)))
    (call $str (i32.const 200) (i32.const 6)) (call $num (local.get $errno))
    (call $str (i32.const 210) (i32.const 8)) (call $num (local.get $n))
    (call $str (i32.const 220) (i32.const 12)) (call $num (local.get $ok))
    (i32.store8 (global.get $out) (i32.const 10))
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.sub (i32.add (global.get $out) (i32.const 1)) (i32.const 1024)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $exit (i32.const 0))))
