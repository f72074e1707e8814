;;! [case]
;;! invoke = "run"
;;! expect = "returned:i32:14,i32:2"
;;! description = "a host function with two results (multi-value import): returned on runtimes that can import it; wasmer-singlepass declares it cannot (capabilities), so it is unsupported there, never a compiler panic"
(module
  (import "cage_test" "divmod" (func $divmod (param i32 i32) (result i32 i32)))
  (func (export "run") (result i32 i32) (call $divmod (i32.const 100) (i32.const 7))))
