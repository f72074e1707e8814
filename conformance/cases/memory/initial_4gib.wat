;;! [case]
;;! expect = "rejected:limit_exceeded"
;;! description = "a module asking for 4 GiB of initial memory is rejected under the default 64 MiB cap"
(module (memory 65536))
