;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:7"
;;! description = "a passive element segment of exnref: runs on Wasmtime; Wasmer 7.3's translator refuses it, which its capabilities declare (unsupported; found by fuzzing)"
;;!
;;! [features]
;;! exceptions = true
(module
  (elem $e exnref (ref.null exn))
  (func (export "run") (result i32) (elem.drop $e) (i32.const 7)))
