;;! [limits]
;;! fuel = 1_000_000
;;! [features]
;;! function_references = true
;;! [case]
;;! invoke = "run"
;;! expect = "trapped:out_of_fuel"
;;! description = "GHSA-m63x-6p34-q65x: fuel spent by callees of call_ref must be charged (Wasmtime < 48.0.3 lost it)"
(module
  (type $t (func))
  (func $burn (type $t) (local i32)
    (loop (local.set 0 (i32.add (local.get 0) (i32.const 1)))
          (br_if 0 (i32.lt_u (local.get 0) (i32.const 100000)))))
  (elem declare func $burn)
  (func (export "run") (loop (call_ref $t (ref.func $burn)) (br 0))))
