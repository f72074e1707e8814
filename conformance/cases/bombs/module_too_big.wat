;;! [limits]
;;! max_module_size = 16
;;! [case]
;;! expect = "rejected:limit_exceeded"
;;! description = "a module binary larger than limits.max_module_size"
(module (memory 1) (func (export "run")))
