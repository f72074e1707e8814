//! What Sightglass's markers cost, Cage against the raw runtimes: a guest loop calling
//! `bench.start` then `bench.end` N times, timed per pair, on every Cage runtime (the markers of
//! `cage bench`, [`cage_bench::programs::marker_functions`]) and on raw Wasmtime and Wasmer with
//! the markers `cage bench`'s raw baselines define. An empty region (Sightglass's `noop`) is
//! the return from `start` plus the entry into `end`: about half a pair.
//! `cargo run --release -p cage-bench --example marker_cost -- [N]`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use cage::{Invocation, Value};
use cage_bench::programs::marker_functions;

const WAT: &str = r#"(module
  (import "bench" "start" (func $start))
  (import "bench" "end" (func $end))
  (func (export "run") (param i32) (result i32)
    (loop $l
      (call $start) (call $end)
      (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))
    (i32.const 0)))"#;

#[derive(Default, Clone, Copy)]
struct Marks {
    start: Option<Instant>,
    end: Option<Instant>,
}

fn main() {
    let n: i32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let bytes = wat::parse_str(WAT).expect("valid");
    let policy = cage::Policy::default();
    cage::on_guest_thread(&policy, || {
        for name in cage::available_runtimes() {
            let rt = cage::runtime_named(name, &policy).expect("runtime");
            let host = marker_functions();
            let checked = cage::prepare(rt.as_ref(), &bytes, &host, &Invocation::Instantiate)
                .expect("prepares");
            let module = rt.compile_dyn(&checked, &host).expect("compiles");
            let mut best = f64::INFINITY;
            for _ in 0..5 {
                let mut sb = module.sandbox().expect("sandbox");
                sb.extensions()
                    .insert(cage_bench::programs::Markers::default());
                sb.instantiate().expect("instantiates");
                let t = Instant::now();
                sb.call("run", &[Value::I32(n)]).expect("runs");
                best = best.min(t.elapsed().as_nanos() as f64 / f64::from(n));
            }
            println!("{:<22} {best:7.1} ns per start+end pair", name.to_string());
        }
    })
    .expect("guest thread");
    // Raw Wasmtime: the markers of raw_wasmtime.rs.
    {
        use wasmtime::{Caller, Engine, Linker, Module, Store};
        let engine = Engine::default();
        let module = Module::new(&engine, &bytes).expect("compiles");
        let mut linker: Linker<(Marks, Option<u64>)> = Linker::new(&engine);
        linker
            .func_wrap(
                "bench",
                "start",
                |mut c: Caller<'_, (Marks, Option<u64>)>| {
                    let fuel = c.get_fuel().ok();
                    c.data_mut().1 = fuel;
                    c.data_mut().0.start = Some(Instant::now());
                },
            )
            .expect("links");
        linker
            .func_wrap("bench", "end", |mut c: Caller<'_, (Marks, Option<u64>)>| {
                let now = Instant::now();
                c.data_mut().1 = c.get_fuel().ok();
                c.data_mut().0.end = Some(now);
            })
            .expect("links");
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let mut store = Store::new(&engine, (Marks::default(), None));
            let i = linker.instantiate(&mut store, &module).expect("instance");
            let run = i
                .get_typed_func::<i32, i32>(&mut store, "run")
                .expect("run");
            let t = Instant::now();
            run.call(&mut store, n).expect("runs");
            best = best.min(t.elapsed().as_nanos() as f64 / f64::from(n));
        }
        println!("{:<22} {best:7.1} ns per start+end pair", "raw-wasmtime");
    }
    // Raw Wasmer: the markers of raw_wasmer.rs (a mutex shared by the closures).
    for singlepass in [false, true] {
        use wasmer::{Function, Instance, Module, Store, imports};
        let engine: wasmer::Engine = if singlepass {
            wasmer::sys::EngineBuilder::new(wasmer::sys::Singlepass::new())
                .engine()
                .into()
        } else {
            wasmer::sys::EngineBuilder::new(wasmer::sys::Cranelift::new())
                .engine()
                .into()
        };
        let module = Module::new(&engine, &bytes).expect("compiles");
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let mut store = Store::new(engine.clone());
            let marks = Arc::new(Mutex::new(Marks::default()));
            let (m0, m1) = (marks.clone(), marks.clone());
            let imports = imports! {
                "bench" => {
                    "start" => Function::new_typed(&mut store, move || {
                        if let Ok(mut m) = m0.lock() { m.start = Some(Instant::now()); }
                    }),
                    "end" => Function::new_typed(&mut store, move || {
                        let now = Instant::now();
                        if let Ok(mut m) = m1.lock() { m.end = Some(now); }
                    }),
                }
            };
            let i = Instance::new(&mut store, &module, &imports).expect("instance");
            let run = i
                .exports
                .get_typed_function::<i32, i32>(&store, "run")
                .expect("run");
            let t = Instant::now();
            run.call(&mut store, n).expect("runs");
            best = best.min(t.elapsed().as_nanos() as f64 / f64::from(n));
        }
        let name = if singlepass {
            "raw-wasmer-singlepass"
        } else {
            "raw-wasmer-cranelift"
        };
        println!("{name:<22} {best:7.1} ns per start+end pair");
    }
}
