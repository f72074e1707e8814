//! WASI preview 1 on Wasmtime: `wasmtime-wasi`'s p1 implementation, configured from the
//! `[wasi]` policy, with Cage's portable functions (`cage_core::wasi::overrides`) shadowing
//! `proc_exit`, `poll_oneoff`, the clocks and (when seeded) `random_get`.

use cage_core::Policy;
use cage_core::policy::DirMode;
use wasmtime::Linker;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::StoreData;

/// The captured stdout and stderr of one sandbox.
pub(crate) struct Pipes {
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    limit: usize,
}

impl Pipes {
    /// What was written, at most `limits.max_output` of both streams together.
    pub(crate) fn take(&self) -> cage_core::Output {
        cage_core::Output::capped(
            self.stdout.contents().to_vec(),
            self.stderr.contents().to_vec(),
            self.limit,
        )
    }
}

/// A WASI context for one sandbox: exactly the policy's args, env, stdin and directories;
/// nothing inherited (unless `inherit_stdio`), no network.
pub(crate) fn wasi_ctx(policy: &Policy) -> (WasiP1Ctx, Pipes) {
    let w = &policy.wasi;
    let limit = usize::try_from(policy.limits.max_output.bytes()).unwrap_or(usize::MAX);
    let pipes = Pipes {
        stdout: MemoryOutputPipe::new(limit),
        stderr: MemoryOutputPipe::new(limit),
        limit,
    };
    let mut b = WasiCtxBuilder::new();
    b.args(&w.args);
    for (k, v) in &w.env {
        b.env(k, v);
    }
    if w.inherit_stdio {
        b.inherit_stdio();
    } else {
        b.stdin(MemoryInputPipe::new(
            w.stdin.clone().unwrap_or_default().into_bytes(),
        ));
        b.stdout(pipes.stdout.clone());
        b.stderr(pipes.stderr.clone());
    }
    for d in &w.dirs {
        let perms = match d.mode {
            DirMode::Ro => FsPerms::ReadOnly,
            DirMode::Rw => FsPerms::ReadWrite,
        };
        // The runtime checked at creation that every directory opens.
        let _ = b.preopened_dir(&d.host, &d.guest, perms);
    }
    (b.build_p1(), pipes)
}

/// Links WASI preview 1 and Cage's portable overrides.
pub(crate) fn add_to_linker(
    linker: &mut Linker<StoreData>,
    policy: &Policy,
    metered: bool,
) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_sync(linker, |d: &mut StoreData| {
        d.wasi
            .as_mut()
            .expect("a sandbox of a WASI module has a WASI context")
    })?;
    linker.allow_shadowing(true);
    for f in cage_core::wasi::overrides(policy) {
        crate::host::define(linker, &f, metered)?;
    }
    linker.allow_shadowing(false);
    Ok(())
}
