//! Helpers shared by the integration tests.

#![allow(dead_code)]

use cage::{DynRuntime, HostFunctions, Invocation, Policy, Report};

/// Generates one `#[test]` per runtime compiled in, each calling `body(runtime_name)`.
/// The runtime list follows the features, so adding a backend adds its tests.
#[macro_export]
macro_rules! per_runtime {
    ($($name:ident),* $(,)?) => {
        #[cfg(feature = "wasmtime")]
        mod wasmtime {
            $( #[test] fn $name() { super::$name("wasmtime") } )*
        }
        #[cfg(feature = "wasmer")]
        mod wasmer_cranelift {
            $( #[test] fn $name() { super::$name("wasmer-cranelift") } )*
        }
        #[cfg(feature = "wasmer")]
        mod wasmer_singlepass {
            $( #[test] fn $name() { super::$name("wasmer-singlepass") } )*
        }
    };
}

pub fn wasm(text: &str) -> Vec<u8> {
    cage::module::to_binary(text.as_bytes()).expect("test module must parse")
}

pub fn rt(name: &str, policy: &Policy) -> Box<dyn DynRuntime> {
    cage::runtime(name, policy).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Runs `export` of `text` with `args` on a guest thread sized for the policy.
pub fn run(name: &str, policy: &Policy, text: &str, export: &str, args: &[cage::Value]) -> Report {
    run_with(
        name,
        policy,
        &wasm(text),
        &HostFunctions::new(),
        Invocation::call(export, args.to_vec()),
    )
}

pub fn run_with(
    name: &str,
    policy: &Policy,
    bytes: &[u8],
    host: &HostFunctions,
    inv: Invocation,
) -> Report {
    let r = rt(name, policy);
    cage::on_guest_thread(policy, || cage::run(r.as_ref(), bytes, host, &inv))
}
