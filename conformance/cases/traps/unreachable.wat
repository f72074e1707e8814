;;! [case]
;;! invoke = "run"
;;! expect = "trapped:unreachable"
;;! description = "the unreachable instruction"
(module (func (export "run") unreachable))
