;; Declares 2 MiB of initial memory: rejected before compiling under `--max-memory 65536`.
(module (memory (export "memory") 32) (func (export "run")))
