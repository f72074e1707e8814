;;! [case]
;;! invoke = "sum"
;;! args = ["i32:0", "i32:4"]
;;! expect = "returned:i32:10"
;;! description = "a host function the guest re-exports, called by the application: it reads the sandbox's `memory` on every runtime (Wasmtime found no memory without a calling instance; found by fuzzing with imports)"
(module
  (import "cage_test" "sum" (func $sum (param i32 i32) (result i32)))
  (export "sum" (func $sum))
  (memory (export "memory") 1)
  (data (i32.const 0) "\01\02\03\04"))
