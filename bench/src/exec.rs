//! Cases on a Cage runtime, through the public API only: `cage::runtime`, `prepare`,
//! `compile_dyn`, `sandbox`, `instantiate`, `call`.

use std::hint::black_box;

use cage_core::{
    Error, FuncType, HostFunc, HostFunctions, Invocation, ValType, Value, prepare as check_module,
};

use super::{Case, Group, Runner, check};

/// The host functions every workload may import: `env.bump(x) = x + 1`.
pub(crate) fn host_functions() -> HostFunctions {
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

pub(super) fn prepare(case: &Case, name: &str, run: &mut Runner<'_>) -> Result<(), String> {
    let w = &case.workload;
    let rt = cage::runtime(name, &case.limits.policy()).map_err(|e| e.to_string())?;
    let bytes = w.source.binary()?;
    let host = host_functions();
    let checked =
        check_module(rt.as_ref(), &bytes, &host, &Invocation::Instantiate).map_err(text)?;
    let args = [Value::I32(w.arg)];
    match w.group {
        Group::Compile => {
            let mut iter = || -> Result<(), String> {
                let checked = check_module(rt.as_ref(), &bytes, &host, &Invocation::Instantiate)
                    .map_err(text)?;
                black_box(rt.compile_dyn(&checked, &host).map_err(text)?);
                Ok(())
            };
            iter()?;
            run(&mut iter);
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
