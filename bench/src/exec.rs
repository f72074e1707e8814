//! Cases on a Cage runtime, through the public API only: `cage::runtime`, `prepare`,
//! `compile_dyn`, `sandbox`, `instantiate`, `call`.

use std::hint::black_box;

use cage_core::{
    DiskCache, Error, FuncType, HmacKey, HostContext, HostError, HostFunc, HostFunctions,
    Invocation, ValType, Value, prepare as check_module,
};

use super::{CacheUse, CallPath, Case, Group, Runner, check};

/// The host functions every workload may import: `env.bump(x) = x + 1`, either dynamic
/// (`HostFunc::new`) or typed (`cage::host_fn`).
pub(crate) fn host_functions(typed: bool) -> HostFunctions {
    if typed {
        return HostFunctions::new().with(cage::host_fn(
            "env",
            "bump",
            |_: &mut dyn HostContext, x: i32| -> Result<i32, HostError> { Ok(x.wrapping_add(1)) },
        ));
    }
    HostFunctions::new().with(HostFunc::new(
        "env",
        "bump",
        FuncType::new([ValType::I32], [ValType::I32]),
        |_, args| match args {
            [Value::I32(x)] => Ok(vec![Value::I32(x.wrapping_add(1))]),
            _ => Err("env.bump takes one i32".into()),
        },
    ))
}

fn text(e: Error) -> String {
    e.to_string()
}

fn result(out: &[Value], expect: i32) -> Result<(), String> {
    match out {
        [Value::I32(v)] => check(*v, expect),
        other => Err(format!("run returned {other:?}, expected one i32")),
    }
}

/// Stack of a parallel workload's load threads: room for the default `max_stack` and the host.
const HELPER_STACK: usize = 8 << 20;

/// A typed call (`Sandbox::typed`) or an untyped handle call (`Sandbox::func`) of `run` on a
/// live instance of a concrete runtime.
fn handle_call<B>(rt: cage::Runtime<B>, case: &Case, run: &mut Runner<'_>) -> Result<(), String>
where
    B: cage_core::backend::Backend,
    B::Store: cage::TypedStore<(i32,), i32>,
{
    let w = &case.workload;
    let module = rt
        .compile(&w.source.binary()?, &host_functions(w.typed_host))
        .map_err(text)?;
    if w.group == Group::Instantiate {
        // One request, as the raw baselines make it: a new sandbox, instantiation, a typed
        // lookup and call, drop.
        let request = || -> Result<(), String> {
            let mut sandbox = module.sandbox().map_err(text)?;
            sandbox.instantiate().map_err(text)?;
            let f = sandbox.typed::<(i32,), i32>("run").map_err(text)?;
            check(f.call(&mut sandbox, (w.arg,)).map_err(text)?, w.expect)
        };
        // The other threads of a parallel workload make the same requests for as long as this
        // one is measured.
        let stop = std::sync::atomic::AtomicBool::new(false);
        let failed = std::sync::Mutex::new(None::<String>);
        std::thread::scope(|s| -> Result<(), String> {
            let mut spawned = Ok(());
            for _ in 1..w.threads {
                let helper = std::thread::Builder::new()
                    .name("cage-bench-load".into())
                    .stack_size(HELPER_STACK)
                    .spawn_scoped(s, || {
                        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                            if let Err(e) = request() {
                                *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                                break;
                            }
                        }
                    });
                if let Err(e) = helper {
                    spawned = Err(format!("cannot start a load thread: {e}"));
                    break;
                }
            }
            let mut iter = || -> Result<(), String> { request() };
            let measured = spawned.and_then(|()| iter()).map(|()| run(&mut iter));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            measured
        })?;
        if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(format!("a load thread failed: {e}"));
        }
        return Ok(());
    }
    let mut sandbox = module.sandbox().map_err(text)?;
    sandbox.instantiate().map_err(text)?;
    if w.path == CallPath::Typed {
        let f = sandbox.typed::<(i32,), i32>("run").map_err(text)?;
        let mut iter = || -> Result<(), String> {
            check(f.call(&mut sandbox, (w.arg,)).map_err(text)?, w.expect)
        };
        iter()?;
        run(&mut iter);
    } else {
        let f = sandbox.func("run").map_err(text)?;
        let args = [Value::I32(w.arg)];
        let mut out = Vec::new();
        let mut iter = || -> Result<(), String> {
            sandbox.call_func(&f, &args, &mut out).map_err(text)?;
            result(&out, w.expect)
        };
        iter()?;
        run(&mut iter);
    }
    Ok(())
}

pub(super) fn prepare(case: &Case, name: &str, run: &mut Runner<'_>) -> Result<(), String> {
    let w = &case.workload;
    if w.group == Group::Async {
        // Its own set-up: two modules (calibration, the batch) and an executor.
        return many_guests(case, name, run);
    }
    if w.path != CallPath::Name {
        let policy = case.limits.policy();
        return match name {
            "wasmtime" => handle_call(cage::wasmtime(&policy).map_err(text)?, case, run),
            "wasmer-cranelift" => handle_call(
                cage::wasmer(&policy, cage::WasmerCompiler::Cranelift).map_err(text)?,
                case,
                run,
            ),
            "wasmer-singlepass" => handle_call(
                cage::wasmer(&policy, cage::WasmerCompiler::Singlepass).map_err(text)?,
                case,
                run,
            ),
            other => Err(format!("{other}: no typed path")),
        };
    }
    let rt = cage::runtime(name, &case.limits.policy()).map_err(|e| e.to_string())?;
    let bytes = w.source.binary()?;
    let host = host_functions(w.typed_host);
    let checked =
        check_module(rt.as_ref(), &bytes, &host, &Invocation::Instantiate).map_err(text)?;
    let args = [Value::I32(w.arg)];
    match w.group {
        Group::Compile => {
            // Cold compiles must not be answered from memory; disk ones come from disk.
            if w.cache != CacheUse::Memory {
                rt.set_memory_cache_capacity(0);
            }
            let _dir = if w.cache == CacheUse::Disk {
                let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
                let key = HmacKey::generate().map_err(text)?;
                let cache = DiskCache::open(dir.path().join("cache"), key).map_err(text)?;
                rt.set_disk_cache(Some(cache));
                Some(dir)
            } else {
                None
            };
            if w.cache != CacheUse::Cold {
                rt.compile_dyn(&checked, &host).map_err(text)?;
            }
            let mut iter = || -> Result<(), String> {
                let checked = check_module(rt.as_ref(), &bytes, &host, &Invocation::Instantiate)
                    .map_err(text)?;
                black_box(rt.compile_dyn(&checked, &host).map_err(text)?);
                Ok(())
            };
            iter()?;
            run(&mut iter);
            let s = rt.cache_stats();
            let expected = match w.cache {
                CacheUse::Cold => s.memory_hits + s.disk_hits == 0,
                CacheUse::Memory => s.misses == 1 && s.disk_hits == 0,
                CacheUse::Disk => s.misses == 1 && s.memory_hits == 0 && s.stored == 1,
            };
            if !expected || s.rejected + s.errors > 0 {
                return Err(format!(
                    "the cache did not answer as the workload says: {s:?}"
                ));
            }
        }
        Group::Instantiate => {
            let module = rt.compile_dyn(&checked, &host).map_err(text)?;
            let mut iter = || -> Result<(), String> {
                let mut sandbox = module.sandbox().map_err(text)?;
                sandbox.instantiate().map_err(text)?;
                result(&sandbox.call("run", &args).map_err(text)?, w.expect)
            };
            iter()?;
            run(&mut iter);
        }
        // Set up apart, at the top: its guest imports `host.wait`, not `env.bump`.
        Group::Async => return Err("async/many-guests is set up apart".into()),
        Group::Call | Group::HostCall | Group::Kernel => {
            let module = rt.compile_dyn(&checked, &host).map_err(text)?;
            let mut sandbox = module.sandbox().map_err(text)?;
            sandbox.instantiate().map_err(text)?;
            let mut iter = || -> Result<(), String> {
                result(&sandbox.call("run", &args).map_err(text)?, w.expect)
            };
            iter()?;
            run(&mut iter);
        }
    }
    Ok(())
}

/// `async/many-guests`: one batch of `arg` guests per iteration, every guest completing.
fn many_guests(case: &Case, name: &str, run: &mut Runner<'_>) -> Result<(), String> {
    use crate::many_guests::{Api, Batch, policy};
    let w = &case.workload;
    let guests = usize::try_from(w.arg).unwrap_or(0);
    let api = if w.name.ends_with("spawn-blocking") {
        Api::Blocking
    } else {
        Api::Async
    };
    let name: cage::RuntimeName = name.parse().map_err(|e| format!("{e}"))?;
    let batch = Batch::new(name, api, &policy(case.limits.policy(), guests))?;
    let mut iter = || batch.iteration(guests);
    iter()?;
    run(&mut iter);
    Ok(())
}
