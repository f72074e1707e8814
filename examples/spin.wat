;; A guest that never stops: `cage run --fuel 100000 --invoke spin examples/spin.wat` traps out_of_fuel.
(module
  (func (export "spin") (loop br 0)))
