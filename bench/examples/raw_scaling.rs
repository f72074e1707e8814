//! Raw Wasmtime instance-per-request with its pooling allocator at its defaults, on one thread
//! and on one per core: whether Wasmtime itself scales, without Cage (`raw_scaling`).
use std::time::Instant;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, Linker, Module, Store};

fn main() {
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::pooling());
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(
        &engine,
        wat::parse_str(
            r#"(module (memory 1) (data (i32.const 0) "\2a")
            (func (export "run") (param i32) (result i32)
              (i32.add (local.get 0) (i32.load8_u (i32.const 0)))))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let linker: Linker<()> = Linker::new(&engine);
    let pre = linker.instantiate_pre(&module).unwrap();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per_thread = 200_000;
    let rate = |threads: usize| {
        let start = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for _ in 0..per_thread {
                        let mut store = Store::new(&engine, ());
                        let i = pre.instantiate(&mut store).unwrap();
                        let f = i.get_typed_func::<i32, i32>(&mut store, "run").unwrap();
                        assert_eq!(f.call(&mut store, 1).unwrap(), 43);
                    }
                });
            }
        });
        (threads * per_thread) as f64 / start.elapsed().as_secs_f64()
    };
    let one = rate(1);
    let many = rate(cores);
    println!(
        "raw wasmtime (pooling): 1 thread {one:.0} requests/s, {cores} threads {many:.0} \
         requests/s ({:.2}×)",
        many / one
    );
}
