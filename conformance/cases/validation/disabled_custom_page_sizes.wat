;;! [case]
;;! expect = "rejected:feature_disabled"
;;! description = "a 1-byte page size needs custom_page_sizes"
(module (memory 1 (pagesize 1)))
