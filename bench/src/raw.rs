//! Cases on the runtimes' own APIs, with no Cage in between: the reference for the abstraction
//! overhead. Each engine gets what Cage's engine gets when no limit is on (Cranelift at
//! `OptLevel::Speed`; Singlepass as is) and otherwise the runtime's defaults; calls go through
//! typed functions, as an embedder writing against the runtime directly would write them.

use std::hint::black_box;

use super::{Case, Runner};

use super::{Group, check};

pub(super) fn prepare(case: &Case, name: &str, run: &mut Runner<'_>) -> Result<(), String> {
    match name {
        "wasmtime" => wasmtime_raw::prepare(case, run, false),
        super::RAW_WASMTIME_POOLING => wasmtime_raw::prepare(case, run, true),
        "wasmer-cranelift" => wasmer_raw::prepare(case, name, run),
        #[cfg(feature = "wasmer-singlepass")]
        "wasmer-singlepass" => wasmer_raw::prepare(case, name, run),
        _ => {
            let _ = (case, run);
            Err(format!("raw-{name}: runtime not compiled in"))
        }
    }
}

mod wasmtime_raw {
    use wasmtime::{Config, Engine, InstanceAllocationStrategy, Linker, Module, OptLevel, Store};

    use super::{Case, Group, Runner, black_box, check};

    fn e(err: wasmtime::Error) -> String {
        format!("raw-wasmtime: {err:#}")
    }

    /// `pooling`: Wasmtime's pooling allocator at its defaults, as an embedder would switch it
    /// on.
    pub(super) fn prepare(case: &Case, run: &mut Runner<'_>, pooling: bool) -> Result<(), String> {
        let w = &case.workload;
        let mut config = Config::new();
        config.cranelift_opt_level(OptLevel::Speed);
        if pooling {
            config.allocation_strategy(InstanceAllocationStrategy::pooling());
        }
        let engine = Engine::new(&config).map_err(e)?;
        let bytes = w.source.binary()?;
        let mut linker: Linker<()> = Linker::new(&engine);
        linker
            .func_wrap("env", "bump", |x: i32| x.wrapping_add(1))
            .map_err(e)?;
        let (arg, expect) = (w.arg, w.expect);
        match w.group {
            Group::Async => return Err("async/many-guests has no raw baseline".into()),
            Group::Compile => {
                let mut iter = || -> Result<(), String> {
                    black_box(Module::new(&engine, &bytes).map_err(e)?);
                    Ok(())
                };
                iter()?;
                run(&mut iter);
            }
            Group::Instantiate => {
                let module = Module::new(&engine, &bytes).map_err(e)?;
                let pre = linker.instantiate_pre(&module).map_err(e)?;
                let mut iter = || -> Result<(), String> {
                    let mut store = Store::new(&engine, ());
                    let instance = pre.instantiate(&mut store).map_err(e)?;
                    let f = instance
                        .get_typed_func::<i32, i32>(&mut store, "run")
                        .map_err(e)?;
                    check(f.call(&mut store, arg).map_err(e)?, expect)
                };
                iter()?;
                run(&mut iter);
            }
            Group::Call | Group::HostCall | Group::Kernel => {
                let module = Module::new(&engine, &bytes).map_err(e)?;
                let mut store = Store::new(&engine, ());
                let instance = linker.instantiate(&mut store, &module).map_err(e)?;
                let f = instance
                    .get_typed_func::<i32, i32>(&mut store, "run")
                    .map_err(e)?;
                let mut iter =
                    || -> Result<(), String> { check(f.call(&mut store, arg).map_err(e)?, expect) };
                iter()?;
                run(&mut iter);
            }
        }
        Ok(())
    }
}

mod wasmer_raw {
    use wasmer::sys::{Cranelift, CraneliftOptLevel, EngineBuilder};
    use wasmer::{Engine, Function, Imports, Instance, Module, Store, TypedFunction, imports};

    use super::{Case, Group, Runner, black_box, check};

    fn e(err: impl std::fmt::Display) -> String {
        format!("raw-wasmer: {err}")
    }

    fn engine(name: &str) -> Engine {
        match name {
            #[cfg(feature = "wasmer-singlepass")]
            "wasmer-singlepass" => EngineBuilder::new(wasmer::sys::Singlepass::new())
                .engine()
                .into(),
            _ => {
                let mut c = Cranelift::new();
                c.opt_level(CraneliftOptLevel::Speed);
                EngineBuilder::new(c).engine().into()
            }
        }
    }

    /// `env.bump` for the host-call workload, nothing for the others (as Cage defines only
    /// the imports a module has).
    fn imports(store: &mut Store, group: Group) -> Imports {
        if group == Group::HostCall {
            let bump = Function::new_typed(store, |x: i32| x.wrapping_add(1));
            imports! { "env" => { "bump" => bump } }
        } else {
            Imports::new()
        }
    }

    pub(super) fn prepare(case: &Case, name: &str, run: &mut Runner<'_>) -> Result<(), String> {
        let w = &case.workload;
        let engine = engine(name);
        let bytes = w.source.binary()?;
        let (arg, expect, group) = (w.arg, w.expect, w.group);
        match group {
            Group::Async => return Err("async/many-guests has no raw baseline".into()),
            Group::Compile => {
                let mut iter = || -> Result<(), String> {
                    black_box(Module::from_binary(&engine, &bytes).map_err(e)?);
                    Ok(())
                };
                iter()?;
                run(&mut iter);
            }
            Group::Instantiate => {
                let module = Module::from_binary(&engine, &bytes).map_err(e)?;
                let mut iter = || -> Result<(), String> {
                    let mut store = Store::new(engine.clone());
                    let imports = imports(&mut store, group);
                    let instance = Instance::new(&mut store, &module, &imports).map_err(e)?;
                    let f: TypedFunction<i32, i32> = instance
                        .exports
                        .get_typed_function(&store, "run")
                        .map_err(e)?;
                    check(f.call(&mut store, arg).map_err(e)?, expect)
                };
                iter()?;
                run(&mut iter);
            }
            Group::Call | Group::HostCall | Group::Kernel => {
                let module = Module::from_binary(&engine, &bytes).map_err(e)?;
                let mut store = Store::new(engine.clone());
                let imports = imports(&mut store, group);
                let instance = Instance::new(&mut store, &module, &imports).map_err(e)?;
                let f: TypedFunction<i32, i32> = instance
                    .exports
                    .get_typed_function(&store, "run")
                    .map_err(e)?;
                let mut iter =
                    || -> Result<(), String> { check(f.call(&mut store, arg).map_err(e)?, expect) };
                iter()?;
                run(&mut iter);
            }
        }
        Ok(())
    }
}
