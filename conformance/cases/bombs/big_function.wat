;;! [limits]
;;! max_function_size = 8
;;! [case]
;;! expect = "rejected:limit_exceeded"
;;! description = "a function body larger than limits.max_function_size"
(module (func (drop (i32.add (i32.add (i32.const 1) (i32.const 2)) (i32.add (i32.const 3) (i32.const 4))))))
