//! WASI preview 1, implemented once in Cage and run by every backend.
//!
//! Every preview 1 function a guest imports is a Cage host function ([`functions`]) over one
//! per-sandbox [`WasiCtx`]: the same code on Wasmtime, Wasmer Cranelift and Wasmer Singlepass,
//! so a guest observes exactly the same thing everywhere (descriptor numbers, errno values, read
//! sizes, directory listings, output limits) and does exactly the same work, which is what makes
//! fuel identical on real programs. Files and directories go through `cap-std` (the capability
//! library `wasmtime-wasi` is built on): no path, `..` or symlink leaves a preopen.
//!
//! What a guest sees follows Wasmtime's `wasmtime-wasi` preview 1, the reference (see
//! `calls.rs` for where Cage decides differently, and why). Cage's own rules:
//!
//! - `proc_exit(n)`: `exited: n` for every n (Wasmtime refuses n ≥ 126, Wasmer reduces n modulo
//!   256);
//! - `poll_oneoff`: clock waits end at the call's deadline (`trapped: timeout`); with a frozen
//!   clock nothing sleeps; descriptor subscriptions are ready at once;
//! - `clock_time_get`/`clock_res_get`: real clocks or a frozen instant; CPU-time clocks `EINVAL`;
//! - `random_get`: the OS generator, or ChaCha20 seeded from `random = { seed = N }`;
//! - read-only directories refuse every change with `EPERM`; stdout and stderr keep at most
//!   `limits.max_output` each and then fail with `EIO`; `sock_*` is `ENOTSOCK` (no sockets);
//! - a pointer out of bounds traps `memory_out_of_bounds`, a misaligned one `heap_misaligned`
//!   (preview 1 says such calls trap);
//! - every call costs fuel: [`crate::cost::WasiCosts`] (a base cost plus one unit per byte moved
//!   between guest memory and the host).
//!
//! [`PREVIEW1`] is the import table: a `wasi_snapshot_preview1` import that is not in it, or has
//! another type, is `rejected: unresolved_import` in core.

mod calls;
mod ctx;
pub mod errno;
mod guest;
mod poll;

pub use ctx::{DirUsage, WasiCtx, WasiUsage};
pub use errno::Errno;

use crate::WASI_MODULE;
use crate::host::{HostFunc, HostFunctions};
use crate::module::FuncType;
use guest::{Args, Guest};

pub use crate::preview1::{PREVIEW1, preview1_type};

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
/// [`WasiCtx`] in its host state's extensions (core's sandboxes do, for modules importing WASI).
pub fn functions() -> Vec<HostFunc> {
    PREVIEW1
        .iter()
        .map(|&(name, params, results)| {
            let ty = FuncType::new(params.to_vec(), results.to_vec());
            if name == "proc_exit" {
                return HostFunc::new(WASI_MODULE, name, ty, |cx, a| {
                    Guest::enter(cx).map_err(|f| match f {
                        guest::Fail::Trap(t) => t,
                        guest::Fail::Errno(_) => crate::host::HostError::new("proc_exit failed"),
                    })?;
                    Err(crate::host::HostError::Exit(Args(a).u32(0) as i32))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::ValType::{I32, I64};

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
        let mut p = crate::Policy::default();
        p.wasi.clock = crate::policy::Clock::Frozen;
        let s = WasiCtx::new(&p).unwrap();
        assert_eq!(s.now(0), Some(FROZEN_REALTIME_NS));
        assert_eq!(s.now(1), Some(FROZEN_MONOTONIC_NS));
        assert_eq!(s.now(2), None);
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let mut p = crate::Policy::default();
        p.wasi.dirs.push(crate::policy::Dir {
            host: "/nonexistent/cage-test".into(),
            guest: "/x".into(),
            mode: crate::policy::DirMode::Ro,
        });
        assert!(WasiCtx::new(&p).is_err());
    }
}
