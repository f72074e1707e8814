;;! [[wasi.dirs]]
;;! host = "fixtures/rw"
;;! guest = "/data"
;;! mode = "rw"
;;! [case]
;;! expect = "exited:0"
;;! expect_stdout = "mkf_=00 stl_=54 stf_=54 opn_=54 opc_=31 ocn_=31 opd_=54 onf_=54 rnd_=54 rns_=54 unl_=54 rmd_=54 lns_=54 lnd_=44 sym_=44 rdl_=54 tim_=54 mkd_=20 dir_=00 std_=00 mkg_=00 lsg_=54 mks_=00 lss_=00 sty_=03 rdd_=00\n"
;;! description = "a trailing slash on a path that names a regular file (f/) is ENOTDIR (54) in every path call, as POSIX says: stat with and without SYMLINK_FOLLOW (also d/g/, two components), open (plain, without SYMLINK_FOLLOW, O_DIRECTORY; O_CREAT is EISDIR, 31), rename either side, unlink, rmdir, link from f/, readlink, set times; creating l/ or n/ is ENOENT (44), mkdir f/ EEXIST (20); lstat of s/, s a symbolic link to a directory, follows it (filetype 3); a directory with a slash works. Prints each call's errno (sty_: the filetype). wasmtime-wasi differs in lstat of one component, f/ succeeds and s/ is the link (declared: docs/wasi.md)"
(module
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $prestat_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get" (func $stat (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_set_times" (func $times (param i32 i32 i32 i32 i64 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename" (func $rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file" (func $unlink (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_remove_directory" (func $rmdir (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory" (func $mkdir (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_link" (func $link (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink" (func $symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_readlink" (func $readlink (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 2)
  (global $out (mut i32) (i32.const 8192))
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
  ;; Appends "<label>=<errno> " to the output (label: a 4-byte word).
  (func $rec (param $label i32) (param $errno i32)
    (i32.store (global.get $out) (local.get $label))
    (i32.store8 (i32.add (global.get $out) (i32.const 4)) (i32.const 61))
    (i32.store8 (i32.add (global.get $out) (i32.const 5))
      (i32.add (i32.const 48) (i32.div_u (local.get $errno) (i32.const 10))))
    (i32.store8 (i32.add (global.get $out) (i32.const 6))
      (i32.add (i32.const 48) (i32.rem_u (local.get $errno) (i32.const 10))))
    (i32.store8 (i32.add (global.get $out) (i32.const 7)) (i32.const 32))
    (global.set $out (i32.add (global.get $out) (i32.const 8))))
  ;; path_open(dir, path, oflags, rights): the errno.
  (func $o (param $d i32) (param $ptr i32) (param $len i32) (param $oflags i32) (param $rights i64) (result i32)
    (call $open (local.get $d) (i32.const 1) (local.get $ptr) (local.get $len) (local.get $oflags)
      (local.get $rights) (i64.const 0) (i32.const 0) (i32.const 500)))
  ;; Paths: "f", "f/", "y", "y/", "n/", "l", "l/", "d", "d/", "e/", "d/g", "d/g/", "s", "s/".
  (data (i32.const 100) "f/") (data (i32.const 110) "y/") (data (i32.const 120) "n/")
  (data (i32.const 130) "l/") (data (i32.const 140) "d/") (data (i32.const 150) "e/")
  (data (i32.const 160) "d/g/") (data (i32.const 170) "s/")
  ;; Labels, four bytes each.
  (data (i32.const 200) "mkf_stl_stf_opn_opc_ocn_opd_rnd_rns_unl_rmd_lns_lnd_sym_rdl_tim_mkd_dir_std_rdd_onf_mkg_lsg_mks_lss_sty_")
  (func $l (param $i i32) (result i32) (i32.load (i32.add (i32.const 200) (i32.mul (local.get $i) (i32.const 4)))))
  (func (export "_start") (local $d i32)
    (local.set $d (call $find))
    (if (i32.lt_s (local.get $d) (i32.const 0)) (then (call $exit (i32.const 100))))
    ;; The regular file f (O_CREAT).
    (call $rec (call $l (i32.const 0)) (call $o (local.get $d) (i32.const 100) (i32.const 1) (i32.const 1) (i64.const 0x42)))
    ;; Stat f/ without and with SYMLINK_FOLLOW.
    (call $rec (call $l (i32.const 1)) (call $stat (local.get $d) (i32.const 0) (i32.const 100) (i32.const 2) (i32.const 1024)))
    (call $rec (call $l (i32.const 2)) (call $stat (local.get $d) (i32.const 1) (i32.const 100) (i32.const 2) (i32.const 1024)))
    ;; Open f/: plain, O_CREAT, and O_CREAT of a new n/; O_DIRECTORY.
    (call $rec (call $l (i32.const 3)) (call $o (local.get $d) (i32.const 100) (i32.const 2) (i32.const 0) (i64.const 2)))
    (call $rec (call $l (i32.const 4)) (call $o (local.get $d) (i32.const 100) (i32.const 2) (i32.const 1) (i64.const 0x42)))
    (call $rec (call $l (i32.const 5)) (call $o (local.get $d) (i32.const 120) (i32.const 2) (i32.const 1) (i64.const 0x42)))
    (call $rec (call $l (i32.const 6)) (call $o (local.get $d) (i32.const 100) (i32.const 2) (i32.const 2) (i64.const 2)))
    ;; Open f/ without SYMLINK_FOLLOW.
    (call $rec (call $l (i32.const 20)) (call $open (local.get $d) (i32.const 0) (i32.const 100) (i32.const 2) (i32.const 0)
      (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 500)))
    ;; Rename f -> y/ and f/ -> y.
    (call $rec (call $l (i32.const 7)) (call $rename (local.get $d) (i32.const 100) (i32.const 1) (local.get $d) (i32.const 110) (i32.const 2)))
    (call $rec (call $l (i32.const 8)) (call $rename (local.get $d) (i32.const 100) (i32.const 2) (local.get $d) (i32.const 110) (i32.const 1)))
    ;; Unlink f/, rmdir f/.
    (call $rec (call $l (i32.const 9)) (call $unlink (local.get $d) (i32.const 100) (i32.const 2)))
    (call $rec (call $l (i32.const 10)) (call $rmdir (local.get $d) (i32.const 100) (i32.const 2)))
    ;; Link f/ -> l and f -> l/.
    (call $rec (call $l (i32.const 11)) (call $link (local.get $d) (i32.const 0) (i32.const 100) (i32.const 2) (local.get $d) (i32.const 130) (i32.const 1)))
    (call $rec (call $l (i32.const 12)) (call $link (local.get $d) (i32.const 0) (i32.const 100) (i32.const 1) (local.get $d) (i32.const 130) (i32.const 2)))
    ;; Symlink n/ -> f.
    (call $rec (call $l (i32.const 13)) (call $symlink (i32.const 100) (i32.const 1) (local.get $d) (i32.const 120) (i32.const 2)))
    ;; Readlink f/.
    (call $rec (call $l (i32.const 14)) (call $readlink (local.get $d) (i32.const 100) (i32.const 2) (i32.const 1024) (i32.const 64) (i32.const 1200)))
    ;; Set times of f/ (ATIM_NOW | MTIM_NOW).
    (call $rec (call $l (i32.const 15)) (call $times (local.get $d) (i32.const 0) (i32.const 100) (i32.const 2) (i64.const 0) (i64.const 0) (i32.const 10)))
    ;; mkdir f/ (exists); mkdir d/, stat d/, rename d/ -> e/.
    (call $rec (call $l (i32.const 16)) (call $mkdir (local.get $d) (i32.const 100) (i32.const 2)))
    (call $rec (call $l (i32.const 17)) (call $mkdir (local.get $d) (i32.const 140) (i32.const 2)))
    (call $rec (call $l (i32.const 18)) (call $stat (local.get $d) (i32.const 0) (i32.const 140) (i32.const 2) (i32.const 1024)))
    ;; A file d/g: lstat d/g/ (two components).
    (call $rec (call $l (i32.const 21)) (call $o (local.get $d) (i32.const 160) (i32.const 3) (i32.const 1) (i64.const 0x42)))
    (call $rec (call $l (i32.const 22)) (call $stat (local.get $d) (i32.const 0) (i32.const 160) (i32.const 4) (i32.const 1024)))
    ;; A symbolic link s -> d: lstat s/ (errno, then the filetype: 3 directory, 7 symbolic link).
    (call $rec (call $l (i32.const 23)) (call $symlink (i32.const 140) (i32.const 1) (local.get $d) (i32.const 170) (i32.const 1)))
    (i32.store8 (i32.const 1040) (i32.const 0))
    (call $rec (call $l (i32.const 24)) (call $stat (local.get $d) (i32.const 0) (i32.const 170) (i32.const 2) (i32.const 1024)))
    (call $rec (call $l (i32.const 25)) (i32.load8_u (i32.const 1040)))
    (call $rec (call $l (i32.const 19)) (call $rename (local.get $d) (i32.const 140) (i32.const 2) (local.get $d) (i32.const 150) (i32.const 2)))
    (i32.store8 (i32.sub (global.get $out) (i32.const 1)) (i32.const 10))
    (i32.store (i32.const 0) (i32.const 8192))
    (i32.store (i32.const 4) (i32.sub (global.get $out) (i32.const 8192)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $exit (i32.const 0))))
