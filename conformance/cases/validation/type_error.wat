;;! [case]
;;! expect = "rejected:invalid_module"
;;! description = "a function returning i64 where i32 is declared"
(module (func (result i32) (i64.const 0)))
