//! Measures Wasmer's own untyped call paths against its typed call.
use std::time::Instant;
use wasmer::{Instance, Module, Store, Value, imports};

fn main() {
    let wat = r#"(module (func (export "run") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))"#;
    let mut store = Store::default();
    let bytes = cage_core::module::to_binary(wat.as_bytes()).unwrap();
    let module = Module::new(&store, &bytes).unwrap();
    let instance = Instance::new(&mut store, &module, &imports! {}).unwrap();
    let f = instance.exports.get_function("run").unwrap().clone();
    let typed = f.typed::<i32, i32>(&store).unwrap();
    let n = 2_000_000;
    for round in 0..2 {
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(typed.call(&mut store, 41).unwrap());
        }
        let typed_ns = t.elapsed().as_nanos() as f64 / n as f64;
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(f.call(&mut store, &[Value::I32(41)]).unwrap());
        }
        let untyped_ns = t.elapsed().as_nanos() as f64 / n as f64;
        println!("round {round}: typed {typed_ns:.1} ns, call {untyped_ns:.1} ns");
    }
}
