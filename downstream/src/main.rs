//! An application written against `cage`'s default features only, as a user would write it:
//! the default runtime by its stable type, runtimes by name, typed host functions, the policy's
//! builders, a WASI command. CI checks it with every combination of `cage`'s features
//! (`.ci/run`): enabling a feature anywhere in a dependency graph must never break it.

use cage::{DirMode, HostContext, HostError, HostFunctions, Policy, Value, WasiCommand};

/// `run(x)` returns `env.double(x)`.
const MODULE: &[u8] = &[
    0, 97, 115, 109, 1, 0, 0, 0, 1, 6, 1, 96, 1, 126, 1, 126, 2, 14, 1, 3, 101, 110, 118, 6, 100,
    111, 117, 98, 108, 101, 0, 0, 3, 2, 1, 0, 7, 7, 1, 3, 114, 117, 110, 0, 1, 10, 8, 1, 6, 0, 32,
    0, 16, 0, 11,
];

fn double(_cx: &mut dyn HostContext, x: i64) -> Result<i64, HostError> {
    Ok(x * 2)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let host = HostFunctions::new().with(cage::host_fn("env", "double", double));
    let policy = Policy::default()
        .with_fuel(Some(1_000_000))
        .with_args(["app"])
        .with_env("LANG", "C")
        .with_stdin(Vec::new())
        .with_dir(std::env::temp_dir(), "/tmp", DirMode::Ro);
    let rt: Box<dyn cage::DynRuntime> = cage::default_runtime(&policy)?;
    let module = rt.compile(MODULE, &host)?;
    let mut sandbox = module.instantiate()?;
    assert_eq!(sandbox.call("run", &[Value::I64(21)])?, [Value::I64(42)]);
    for name in cage::available_runtimes() {
        let rt = cage::runtime(name.as_str(), &policy)?;
        let module = rt.compile(MODULE, &host)?;
        // Not a WASI command: no `_start`, so running it as one is refused, never a crash.
        assert!(module.run_command().is_err());
    }
    let wasmtime = cage::wasmtime(&policy)?;
    let typed = wasmtime.compile(MODULE, &host)?.instantiate()?;
    let mut typed = typed;
    let run = typed.typed::<(i64,), i64>("run")?;
    assert_eq!(run.call(&mut typed, (4,))?, 8);
    println!("ok");
    Ok(())
}
