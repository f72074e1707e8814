//! Where a cold compile's time goes, Cage against the raw runtime, on one module:
//! `cargo run --release -p cage-bench --example compile_cost -- FILE.wasm [RUNTIME] [N]`.
//!
//! Per round (interleaved, N rounds after one warm-up): the raw runtime's `Module::new` on an
//! engine configured as `raw-…` of `cage bench` (Wasmtime: Cranelift at `OptLevel::Speed` and the
//! module's proposals; Wasmer: its compiler as is), Cage's `check` alone (validation, static
//! limits, the module's outline), and `prepare` + `compile_dyn` with the memory cache off (the
//! `compile` phase of `cage bench`). Prints medians (min–max) and the ratios.

use std::time::Instant;

use cage::{HostFunctions, Invocation, RuntimeName};
use cage_bench::programs::marker_functions;

fn median(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let mut args = std::env::args().skip(1);
    let file = args
        .next()
        .expect("usage: compile_cost FILE.wasm [RUNTIME] [N]");
    let name: RuntimeName = args.next().map_or(RuntimeName::Wasmtime, |s| {
        s.parse().expect("a runtime name")
    });
    let n: usize = args.next().map_or(5, |s| s.parse().expect("a count"));
    let bytes = std::fs::read(&file).expect("readable");
    let mut policy = cage::Preset::Permissive.policy();
    for p in
        cage::module::features_used(&bytes, &cage::Features::WASM3_NO_THREADS).unwrap_or_default()
    {
        policy.features.set(p, true);
    }
    let host: HostFunctions = marker_functions();
    let rt = cage::runtime_named(name, &policy).expect("runtime");
    rt.set_memory_cache_capacity(0);
    let raw: Box<dyn Fn()> = match name {
        RuntimeName::Wasmtime => {
            let mut c = wasmtime::Config::new();
            c.cranelift_opt_level(wasmtime::OptLevel::Speed);
            if policy.features.contains(cage::Proposal::Gc) {
                c.wasm_gc(true).wasm_function_references(true);
            }
            let engine = wasmtime::Engine::new(&c).expect("engine");
            let b = bytes.clone();
            Box::new(move || {
                std::hint::black_box(wasmtime::Module::new(&engine, &b).expect("compiles"));
            })
        }
        RuntimeName::WasmerCranelift => {
            let mut c = wasmer::sys::Cranelift::new();
            c.opt_level(wasmer::sys::CraneliftOptLevel::Speed);
            let engine: wasmer::Engine = wasmer::sys::EngineBuilder::new(c).engine().into();
            let b = bytes.clone();
            Box::new(move || {
                std::hint::black_box(wasmer::Module::from_binary(&engine, &b).expect("compiles"));
            })
        }
        _ => {
            let engine: wasmer::Engine =
                wasmer::sys::EngineBuilder::new(wasmer::sys::Singlepass::new())
                    .engine()
                    .into();
            let b = bytes.clone();
            Box::new(move || {
                std::hint::black_box(wasmer::Module::from_binary(&engine, &b).expect("compiles"));
            })
        }
    };
    // Wasmer only: the raw runtime with its stock `Metering` middleware (a fresh engine per
    // compile, as a middleware serves one module, made inside the timing as Cage makes its
    // own): what any middleware costs Wasmer's compile, for comparison with Cage's.
    let metered: Option<Box<dyn Fn()>> = (name != RuntimeName::Wasmtime).then(|| {
        let b = bytes.clone();
        let f: Box<dyn Fn()> = Box::new(move || {
            let meter = std::sync::Arc::new(wasmer_middlewares::Metering::new(
                u64::MAX,
                |_: &wasmer::wasmparser::Operator<'_>| 1u64,
            ));
            let engine: wasmer::Engine = if name == RuntimeName::WasmerCranelift {
                let mut c = wasmer::sys::Cranelift::new();
                c.opt_level(wasmer::sys::CraneliftOptLevel::Speed);
                wasmer::sys::CompilerConfig::push_middleware(&mut c, meter);
                wasmer::sys::EngineBuilder::new(c).engine().into()
            } else {
                let mut c = wasmer::sys::Singlepass::new();
                wasmer::sys::CompilerConfig::push_middleware(&mut c, meter);
                wasmer::sys::EngineBuilder::new(c).engine().into()
            };
            std::hint::black_box(wasmer::Module::from_binary(&engine, &b).expect("compiles"));
        });
        f
    });
    let mut t_metered = Vec::new();
    let (mut t_raw, mut t_check, mut t_cage) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..=n {
        let t = Instant::now();
        raw();
        let a = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        std::hint::black_box(rt.check(&bytes).expect("checks"));
        let b = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let checked =
            cage::prepare(rt.as_ref(), &bytes, &host, &Invocation::Command).expect("prepares");
        std::hint::black_box(rt.compile_dyn(&checked, &host).expect("compiles"));
        let c = t.elapsed().as_secs_f64() * 1e3;
        if let Some(m) = &metered {
            let t = Instant::now();
            m();
            if round > 0 {
                t_metered.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        if round > 0 {
            t_raw.push(a);
            t_check.push(b);
            t_cage.push(c);
        }
    }
    let (r, c, k) = (
        median(&mut t_raw),
        median(&mut t_check),
        median(&mut t_cage),
    );
    println!(
        "{file} on {name}, {n} rounds: raw {:.2} ms ({:.2}–{:.2}); cage check {:.2} ms ({:.2}–{:.2}); cage prepare+compile {:.2} ms ({:.2}–{:.2}); cage ÷ raw {:.3}; check ÷ raw {:.3}",
        r.0,
        r.1,
        r.2,
        c.0,
        c.1,
        c.2,
        k.0,
        k.1,
        k.2,
        k.0 / r.0,
        c.0 / r.0
    );
    if !t_metered.is_empty() {
        let m = median(&mut t_metered);
        println!(
            "raw with Wasmer's Metering middleware (a fresh engine each) {:.2} ms ({:.2}–{:.2}); ÷ raw {:.3}; cage ÷ it {:.3}",
            m.0,
            m.1,
            m.2,
            m.0 / r.0,
            k.0 / m.0
        );
    }
}
