//! WASI preview 1 for Cage: one implementation, run by every backend, built only on Cage's
//! public host-function API.
//!
//! Every preview 1 function a guest imports is a Cage host function ([`functions`]) over one
//! per-sandbox [`WasiCtx`]: the same code on Wasmtime, Wasmer Cranelift and Wasmer Singlepass,
//! so a guest observes exactly the same thing everywhere (descriptor numbers, errno values, read
//! sizes, directory listings, output limits) and does exactly the same work, which is what makes
//! fuel identical on real programs. Files and directories go through `cap-std` (the capability
//! library `wasmtime-wasi` is built on): no path, `..` or symlink leaves a preopen.
//!
//! It plugs into a runtime as an import provider ([`provider`], a
//! [`cage_core::provider::ImportProvider`]): core resolves `wasi_snapshot_preview1` imports
//! against it and makes a [`WasiCtx`] for each sandbox of a module that imports it, from the
//! policy's `[wasi]` section. The `cage` crate adds it to every runtime it makes; a runtime made
//! from a backend crate directly gets it with
//! `runtime.add_provider(cage_wasi::provider_for(runtime.policy())?)`.
//! Core itself knows nothing of WASI: this crate is the proof that the host-function API is
//! enough to write an import set with per-sandbox state.
//!
//! What a guest sees follows Wasmtime's `wasmtime-wasi` preview 1, the reference, held to it by
//! the conformance suite's oracle (see `calls.rs` for where Cage decides differently, and why,
//! and the README's table of differences). Cage's own rules:
//!
//! - `proc_exit(n)`: `exited: n` for every n (Wasmtime refuses n ≥ 126, Wasmer reduces n modulo
//!   256);
//! - `poll_oneoff`: clock waits are paid before they start and end at the call's deadline
//!   (`trapped: timeout`); with a frozen clock nothing sleeps; descriptor subscriptions are
//!   ready at once;
//! - `clock_time_get`/`clock_res_get`: real clocks or a frozen instant; CPU-time clocks `EBADF`;
//! - `random_get`: the OS generator, or ChaCha20 seeded from `random = { seed = N }`;
//! - read-only directories refuse every change with `EPERM`; stdout and stderr keep at most
//!   `limits.max_output` each and then fail with `EIO`; `sock_*` is `ENOTSOCK` (no sockets);
//! - a pointer out of bounds traps `memory_out_of_bounds`, a misaligned one `heap_misaligned`
//!   (preview 1 says such calls trap);
//! - the host resources a guest reaches are bounded by `limits.max_open_files`,
//!   `max_disk_write`, `max_files_created` and `max_io_per_call`;
//! - every call costs fuel, paid before the work: [`cage_core::cost::WasiCosts`].
//!
//! [`PREVIEW1`] is the import table: a `wasi_snapshot_preview1` import that is not in it, or has
//! another type, is `rejected: unresolved_import` before any runtime sees the module.

mod calls;
mod command;
mod ctx;
pub mod errno;
mod guest;
mod poll;
mod preview1;

pub use command::{CommandOutput, WasiCommand};
pub use ctx::{DirUsage, Preopens, WasiCtx, WasiUsage};
pub use errno::Errno;
pub use preview1::{PREVIEW1, preview1_type};

use std::sync::Arc;

use cage_core::provider::ImportProvider;
use cage_core::{Error, Extensions, FuncType, HostFunc, HostFunctions, Output, Policy};
use guest::{Args, Guest};

/// The import module name of WASI preview 1.
pub const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// What the realtime clock reads when frozen: 2023-11-14T22:13:20Z, in nanoseconds.
pub const FROZEN_REALTIME_NS: u64 = 1_700_000_000_000_000_000;
/// What the monotonic clock reads when frozen: one second, in nanoseconds.
pub const FROZEN_MONOTONIC_NS: u64 = 1_000_000_000;

/// One preview 1 function: what it does to the guest.
type Call = fn(&mut Guest<'_>, &Args<'_>) -> guest::Res<()>;

/// The implementation of the preview 1 function `name`.
fn implementation(name: &str) -> Option<Call> {
    use calls::*;
    Some(match name {
        "args_get" => args_get,
        "args_sizes_get" => args_sizes_get,
        "environ_get" => environ_get,
        "environ_sizes_get" => environ_sizes_get,
        "clock_res_get" => clock_res_get,
        "clock_time_get" => clock_time_get,
        "fd_advise" => fd_advise,
        "fd_allocate" => fd_allocate,
        "fd_close" => fd_close,
        "fd_datasync" => fd_datasync,
        "fd_fdstat_get" => fd_fdstat_get,
        "fd_fdstat_set_flags" => fd_fdstat_set_flags,
        "fd_fdstat_set_rights" => fd_fdstat_set_rights,
        "fd_filestat_get" => fd_filestat_get,
        "fd_filestat_set_size" => fd_filestat_set_size,
        "fd_filestat_set_times" => fd_filestat_set_times,
        "fd_pread" => fd_pread,
        "fd_prestat_get" => fd_prestat_get,
        "fd_prestat_dir_name" => fd_prestat_dir_name,
        "fd_pwrite" => fd_pwrite,
        "fd_read" => fd_read,
        "fd_readdir" => fd_readdir,
        "fd_renumber" => fd_renumber,
        "fd_seek" => fd_seek,
        "fd_sync" => fd_sync,
        "fd_tell" => fd_tell,
        "fd_write" => fd_write,
        "path_create_directory" => path_create_directory,
        "path_filestat_get" => path_filestat_get,
        "path_filestat_set_times" => path_filestat_set_times,
        "path_link" => path_link,
        "path_open" => path_open,
        "path_readlink" => path_readlink,
        "path_remove_directory" => path_remove_directory,
        "path_rename" => path_rename,
        "path_symlink" => path_symlink,
        "path_unlink_file" => path_unlink_file,
        "poll_oneoff" => poll::poll_oneoff,
        "proc_raise" => proc_raise,
        "sched_yield" => sched_yield,
        "random_get" => random_get,
        "sock_accept" => sock_accept,
        "sock_recv" => sock_recv,
        "sock_send" => sock_send,
        "sock_shutdown" => sock_shutdown,
        _ => return None,
    })
}

/// Every WASI preview 1 function as a Cage host function. A sandbox that runs them must hold a
/// [`WasiCtx`] in its host state's extensions ([`provider`] makes one for every sandbox of a
/// module importing WASI).
pub fn functions() -> Vec<HostFunc> {
    PREVIEW1
        .iter()
        .map(|&(name, params, results)| {
            let ty = FuncType::new(params.to_vec(), results.to_vec());
            if name == "proc_exit" {
                return HostFunc::new(WASI_MODULE, name, ty, |cx, a| {
                    Guest::enter(cx).map_err(|f| match f {
                        errno::Fail::Trap(t) => t,
                        errno::Fail::Errno(_) => cage_core::HostError::new("proc_exit failed"),
                    })?;
                    Err(cage_core::HostError::Exit(Args(a).u32(0) as i32))
                });
            }
            let call = implementation(name).unwrap_or(calls::proc_raise);
            HostFunc::new(WASI_MODULE, name, ty, move |cx, a| {
                let r = Guest::enter(cx).and_then(|mut g| call(&mut g, &Args(a)));
                calls::finish(r)
            })
        })
        .collect()
}

/// [`functions`] as a set, made once per process.
pub fn host_functions() -> &'static HostFunctions {
    static WASI: std::sync::OnceLock<HostFunctions> = std::sync::OnceLock::new();
    WASI.get_or_init(|| {
        let mut h = HostFunctions::new();
        for f in functions() {
            h.insert(f);
        }
        h
    })
}

/// WASI preview 1 as an import provider for runtimes of `policy`: add it to a runtime
/// (`runtime.add_provider(..)`) and modules importing `wasi_snapshot_preview1` get Cage's WASI,
/// each sandbox a [`WasiCtx`] made from the policy's `[wasi]`. The policy's directories are
/// opened here, once ([`Preopens`]), and every sandbox gets duplicates of those handles.
///
/// # Errors
/// A granted directory that cannot be opened (`host_failure: filesystem`); no descriptor left
/// in the process budget.
pub fn provider_for(policy: &Policy) -> Result<Arc<dyn ImportProvider>, Error> {
    Ok(Arc::new(Preview1 {
        preopens: Preopens::open(policy)?,
    }))
}

/// WASI preview 1 with no directories: enough to resolve a module's imports (`cage inspect`),
/// and to run sandboxes of policies that grant no directory; a sandbox of a policy that grants
/// one is refused (its preopens were not opened: use [`provider_for`]).
pub fn provider() -> Arc<dyn ImportProvider> {
    static NONE: std::sync::OnceLock<Arc<dyn ImportProvider>> = std::sync::OnceLock::new();
    NONE.get_or_init(|| {
        Arc::new(Preview1 {
            preopens: Preopens::none(),
        })
    })
    .clone()
}

/// The WASI preview 1 provider (see [`provider`]).
#[derive(Debug)]
struct Preview1 {
    preopens: Preopens,
}

impl ImportProvider for Preview1 {
    fn module(&self) -> &str {
        WASI_MODULE
    }

    fn function(&self, name: &str, ty: &FuncType) -> Result<HostFunc, String> {
        match (preview1_type(name), host_functions().get(WASI_MODULE, name)) {
            (Some(want), Some(f)) if *ty == want => Ok(f.clone()),
            (Some(want), _) => Err(format!("has type {ty}, WASI preview 1 says {want}")),
            _ => Err("is not a WASI preview 1 function".into()),
        }
    }

    fn prepare_sandbox(&self, policy: &Policy, extensions: &mut Extensions) -> Result<(), Error> {
        extensions.insert(WasiCtx::with_preopens(policy, &self.preopens)?);
        Ok(())
    }

    fn take_output(&self, extensions: &mut Extensions) -> Option<Output> {
        extensions.get_mut::<WasiCtx>().map(WasiCtx::take_output)
    }
}

/// What the guest of a sandbox's host state used of its WASI capabilities, if it imports WASI
/// (`cage::run_observed`'s extensions, a sandbox's `extensions()`).
pub fn usage(extensions: &Extensions) -> Option<WasiUsage> {
    extensions.get::<WasiCtx>().map(WasiCtx::usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cage_core::ValType::{I32, I64};

    #[test]
    fn table_is_complete_and_typed() {
        assert_eq!(PREVIEW1.len(), 46);
        assert_eq!(
            preview1_type("proc_exit").unwrap(),
            FuncType::new([I32], [])
        );
        assert_eq!(
            preview1_type("clock_time_get").unwrap(),
            FuncType::new([I32, I64, I32], [I32])
        );
        assert!(
            preview1_type("sock_open").is_none(),
            "WASIX socket calls are not preview 1"
        );
    }

    #[test]
    fn every_function_is_implemented() {
        for (name, _, _) in PREVIEW1 {
            assert!(
                *name == "proc_exit" || implementation(name).is_some(),
                "{name} has no implementation"
            );
        }
        assert_eq!(functions().len(), PREVIEW1.len());
    }

    #[test]
    fn frozen_clocks_do_not_move() {
        let mut p = cage_core::Policy::default();
        p.wasi.clock = cage_core::policy::Clock::Frozen;
        let s = WasiCtx::new(&p).unwrap();
        assert_eq!(s.now(0), Some(FROZEN_REALTIME_NS));
        assert_eq!(s.now(1), Some(FROZEN_MONOTONIC_NS));
        assert_eq!(s.now(2), None);
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let mut p = cage_core::Policy::default();
        p.wasi.dirs.push(cage_core::policy::Dir::new(
            "/nonexistent/cage-test",
            "/x",
            cage_core::policy::DirMode::Ro,
        ));
        let e = WasiCtx::new(&p).unwrap_err();
        assert_eq!(
            e.as_host_failure(),
            Some(cage_core::HostFailure::Filesystem),
            "{e}"
        );
    }
}
