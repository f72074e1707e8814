;;! [case]
;;! invoke = "size"
;;! expect = "returned:i32:2"
;;! description = "a table of exnref (exceptions): runs on Wasmtime; Wasmer 7.3 cannot make it, which its capabilities declare (unsupported before compiling, not a host failure at instantiation; found by fuzzing)"
;;!
;;! [features]
;;! exceptions = true
(module
  (table 2 exnref)
  (func (export "size") (result i32) (table.size 0)))
