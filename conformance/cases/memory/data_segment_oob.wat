;;! [case]
;;! expect = "trapped:memory_out_of_bounds"
;;! description = "an active data segment outside memory traps at instantiation"
(module (memory 1) (data (i32.const 65535) "ab"))
