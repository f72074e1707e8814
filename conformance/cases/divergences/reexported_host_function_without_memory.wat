;;! [limits]
;;! fuel = 1_000_000
;;! [case]
;;! invoke = "fill"
;;! args = ["i32:0", "i32:0", "i32:0"]
;;! expect = "trapped:memory_out_of_bounds"
;;! description = "a re-exported host function that touches guest memory, called by the application, in a module with no memory: memory_out_of_bounds on every runtime (the no-memory side of reexported_host_function.wat)"
(module
  (import "cage_test" "fill" (func $fill (param i32 i32 i32)))
  (export "fill" (func $fill)))
