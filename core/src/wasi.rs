//! WASI preview 1 as Cage decides it, the same on every runtime.
//!
//! The backends run their runtime's own WASI (Wasmtime's `wasmtime-wasi`, Wasmer's
//! `wasmer-wasix`) for everything touching files and stdio, and take these parts from Cage, so
//! that they behave identically and stay under the sandbox's control:
//!
//! - [`PREVIEW1`]: the import table; a `wasi_snapshot_preview1` import that is not in it, or has
//!   another type, is `rejected: unresolved_import` in core.
//! - [`overrides`]: portable host functions that replace the runtimes' own
//!   - `proc_exit`: the exact code (`exited: n` for every n; Wasmtime refuses n ≥ 126 and Wasmer
//!     reduces n modulo 256);
//!   - `poll_oneoff`: clock waits end at the call's deadline (`trapped: timeout`), not when the
//!     guest wakes — neither runtime interrupts a sleeping host call by itself; with a frozen clock
//!     time is virtual and nothing sleeps; fd subscriptions are reported ready at once (stdio is
//!     in memory and regular files are always ready);
//!   - `clock_time_get`/`clock_res_get`: real clocks, or a frozen instant;
//!   - `random_get`: the OS generator, or ChaCha20 seeded from `random = { seed = N }` (the same
//!     bytes on every runtime).
//!
//! Errors from guest pointers are the errno `fault`, as both runtimes report them.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use crate::WASI_MODULE;
use crate::host::{HostContext, HostError, HostFunc};
use crate::module::FuncType;
use crate::policy::{Clock, Policy, Random};
use crate::value::{ValType, Value};

/// `errno::success`.
pub const ESUCCESS: i32 = 0;
/// `errno::fault`: a pointer outside memory.
pub const EFAULT: i32 = 21;
/// `errno::inval`.
pub const EINVAL: i32 = 28;

/// What the realtime clock reads when frozen: 2023-11-14T22:13:20Z, in nanoseconds.
pub const FROZEN_REALTIME_NS: u64 = 1_700_000_000_000_000_000;
/// What the monotonic clock reads when frozen: one second, in nanoseconds.
pub const FROZEN_MONOTONIC_NS: u64 = 1_000_000_000;

use ValType::{I32, I64};

/// Every WASI preview 1 function: name, parameters, results.
pub const PREVIEW1: &[(&str, &[ValType], &[ValType])] = &[
    ("args_get", &[I32, I32], &[I32]),
    ("args_sizes_get", &[I32, I32], &[I32]),
    ("environ_get", &[I32, I32], &[I32]),
    ("environ_sizes_get", &[I32, I32], &[I32]),
    ("clock_res_get", &[I32, I32], &[I32]),
    ("clock_time_get", &[I32, I64, I32], &[I32]),
    ("fd_advise", &[I32, I64, I64, I32], &[I32]),
    ("fd_allocate", &[I32, I64, I64], &[I32]),
    ("fd_close", &[I32], &[I32]),
    ("fd_datasync", &[I32], &[I32]),
    ("fd_fdstat_get", &[I32, I32], &[I32]),
    ("fd_fdstat_set_flags", &[I32, I32], &[I32]),
    ("fd_fdstat_set_rights", &[I32, I64, I64], &[I32]),
    ("fd_filestat_get", &[I32, I32], &[I32]),
    ("fd_filestat_set_size", &[I32, I64], &[I32]),
    ("fd_filestat_set_times", &[I32, I64, I64, I32], &[I32]),
    ("fd_pread", &[I32, I32, I32, I64, I32], &[I32]),
    ("fd_prestat_get", &[I32, I32], &[I32]),
    ("fd_prestat_dir_name", &[I32, I32, I32], &[I32]),
    ("fd_pwrite", &[I32, I32, I32, I64, I32], &[I32]),
    ("fd_read", &[I32, I32, I32, I32], &[I32]),
    ("fd_readdir", &[I32, I32, I32, I64, I32], &[I32]),
    ("fd_renumber", &[I32, I32], &[I32]),
    ("fd_seek", &[I32, I64, I32, I32], &[I32]),
    ("fd_sync", &[I32], &[I32]),
    ("fd_tell", &[I32, I32], &[I32]),
    ("fd_write", &[I32, I32, I32, I32], &[I32]),
    ("path_create_directory", &[I32, I32, I32], &[I32]),
    ("path_filestat_get", &[I32, I32, I32, I32, I32], &[I32]),
    (
        "path_filestat_set_times",
        &[I32, I32, I32, I32, I64, I64, I32],
        &[I32],
    ),
    ("path_link", &[I32, I32, I32, I32, I32, I32, I32], &[I32]),
    (
        "path_open",
        &[I32, I32, I32, I32, I32, I64, I64, I32, I32],
        &[I32],
    ),
    ("path_readlink", &[I32, I32, I32, I32, I32, I32], &[I32]),
    ("path_remove_directory", &[I32, I32, I32], &[I32]),
    ("path_rename", &[I32, I32, I32, I32, I32, I32], &[I32]),
    ("path_symlink", &[I32, I32, I32, I32, I32], &[I32]),
    ("path_unlink_file", &[I32, I32, I32], &[I32]),
    ("poll_oneoff", &[I32, I32, I32, I32], &[I32]),
    ("proc_exit", &[I32], &[]),
    ("proc_raise", &[I32], &[I32]),
    ("sched_yield", &[], &[I32]),
    ("random_get", &[I32, I32], &[I32]),
    ("sock_accept", &[I32, I32, I32], &[I32]),
    ("sock_recv", &[I32, I32, I32, I32, I32, I32], &[I32]),
    ("sock_send", &[I32, I32, I32, I32, I32], &[I32]),
    ("sock_shutdown", &[I32, I32], &[I32]),
];

/// The type of the preview 1 function `name`, if there is one.
pub fn preview1_type(name: &str) -> Option<FuncType> {
    PREVIEW1
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, p, r)| FuncType::new(p.to_vec(), r.to_vec()))
}

/// Per-sandbox WASI state kept by the backend and reached through
/// [`HostContext::wasi_state`]: the seeded generator's position and the monotonic origin.
#[derive(Debug)]
pub struct WasiState {
    clock: Clock,
    rng: Option<ChaCha20Rng>,
    origin: Instant,
}

impl WasiState {
    /// Fresh state for one sandbox under `policy`.
    pub fn new(policy: &Policy) -> Self {
        WasiState {
            clock: policy.wasi.clock,
            rng: match policy.wasi.random {
                Random::Os => None,
                Random::Seeded { seed } => Some(ChaCha20Rng::seed_from_u64(seed)),
            },
            origin: Instant::now(),
        }
    }

    /// Nanoseconds on clock `id` (0 realtime, 1 monotonic), or `None` for clocks Cage does not
    /// offer (the CPU-time clocks: `inval`).
    fn now(&self, id: u32) -> Option<u64> {
        let frozen = self.clock == Clock::Frozen;
        match id {
            0 if frozen => Some(FROZEN_REALTIME_NS),
            0 => Some(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            ),
            1 if frozen => Some(FROZEN_MONOTONIC_NS),
            1 => Some(FROZEN_MONOTONIC_NS.saturating_add(
                u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX),
            )),
            _ => None,
        }
    }
}

fn arg(args: &[Value], i: usize) -> u64 {
    match args.get(i) {
        Some(Value::I32(v)) => u64::from(*v as u32),
        Some(Value::I64(v)) => *v as u64,
        _ => 0,
    }
}

fn errno(e: i32) -> Result<Vec<Value>, HostError> {
    Ok(vec![Value::I32(e)])
}

/// Writes `bytes` at `ptr`, or answers `fault`.
fn store(cx: &mut dyn HostContext, ptr: u64, bytes: &[u8]) -> Option<i32> {
    cx.write(ptr, bytes).err().map(|_| EFAULT)
}

fn state(cx: &mut dyn HostContext) -> Result<&mut WasiState, HostError> {
    cx.wasi_state()
        .ok_or_else(|| HostError::new("WASI is not configured for this sandbox"))
}

fn ty(name: &str) -> FuncType {
    preview1_type(name).unwrap_or_default()
}

/// Sleeps `wait`, or until the call's deadline if that comes first (then the guest traps
/// `timeout`).
fn sleep_within_deadline(cx: &mut dyn HostContext, wait: Duration) -> Result<(), HostError> {
    match cx.deadline() {
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            if wait >= left {
                std::thread::sleep(left);
                return Err(HostError::Timeout);
            }
            std::thread::sleep(wait);
        }
        None => std::thread::sleep(wait),
    }
    Ok(())
}

/// `poll_oneoff(in, out, nsubscriptions, nevents_ptr) -> errno`.
fn poll_oneoff(cx: &mut dyn HostContext, a: &[Value]) -> Result<Vec<Value>, HostError> {
    const SUB: u64 = 48;
    const EVENT: u64 = 32;
    let (input, output, n, nevents_ptr) = (arg(a, 0), arg(a, 1), arg(a, 2), arg(a, 3));
    if n == 0 {
        return errno(EINVAL);
    }
    let Ok(subs) = cx.read_vec(input, n * SUB) else {
        return errno(EFAULT);
    };
    let field = |s: &[u8], at: usize, len: usize| {
        let mut b = [0u8; 8];
        b[..len].copy_from_slice(&s[at..at + len]);
        u64::from_le_bytes(b)
    };
    // Clock waits in nanoseconds, and fd subscriptions (ready at once).
    let mut clocks = Vec::new();
    let mut fds = Vec::new();
    for s in subs.chunks_exact(SUB as usize) {
        let userdata = field(s, 0, 8);
        match s[8] {
            0 => {
                let (id, timeout, flags) =
                    (field(s, 16, 4) as u32, field(s, 24, 8), field(s, 40, 2));
                let Some(now) = state(cx)?.now(id) else {
                    return errno(EINVAL);
                };
                let wait = if flags & 1 == 1 {
                    timeout.saturating_sub(now)
                } else {
                    timeout
                };
                clocks.push((userdata, wait));
            }
            tag @ (1 | 2) => fds.push((userdata, tag)),
            _ => return errno(EINVAL),
        }
    }
    let frozen = state(cx)?.clock == Clock::Frozen;
    let mut events: Vec<(u64, u8)> = Vec::new();
    if fds.is_empty() {
        let earliest = clocks.iter().map(|c| c.1).min().unwrap_or(0);
        if !frozen && earliest > 0 {
            sleep_within_deadline(cx, Duration::from_nanos(earliest))?;
        }
        events.extend(clocks.iter().filter(|c| c.1 <= earliest).map(|c| (c.0, 0)));
    } else {
        events.extend(clocks.iter().filter(|c| c.1 == 0).map(|c| (c.0, 0)));
        events.extend(fds.iter().copied());
    }
    let mut out = Vec::with_capacity(events.len() * EVENT as usize);
    for (userdata, kind) in &events {
        let mut e = [0u8; EVENT as usize];
        e[0..8].copy_from_slice(&userdata.to_le_bytes());
        e[10] = *kind;
        out.extend_from_slice(&e);
    }
    if let Some(e) = store(cx, output, &out) {
        return errno(e);
    }
    if let Some(e) = store(cx, nevents_ptr, &(events.len() as u32).to_le_bytes()) {
        return errno(e);
    }
    errno(ESUCCESS)
}

/// Cage's portable implementations of the WASI functions it takes over (see the module docs).
pub fn overrides(policy: &Policy) -> Vec<HostFunc> {
    let m = WASI_MODULE;
    let mut v = vec![
        HostFunc::new(m, "proc_exit", ty("proc_exit"), |_, a| {
            Err(HostError::Exit(arg(a, 0) as u32 as i32))
        }),
        HostFunc::new(m, "poll_oneoff", ty("poll_oneoff"), poll_oneoff),
        HostFunc::new(m, "clock_time_get", ty("clock_time_get"), |cx, a| {
            let Some(now) = state(cx)?.now(arg(a, 0) as u32) else {
                return errno(EINVAL);
            };
            errno(store(cx, arg(a, 2), &now.to_le_bytes()).unwrap_or(ESUCCESS))
        }),
        HostFunc::new(m, "clock_res_get", ty("clock_res_get"), |cx, a| {
            if state(cx)?.now(arg(a, 0) as u32).is_none() {
                return errno(EINVAL);
            }
            errno(store(cx, arg(a, 1), &1u64.to_le_bytes()).unwrap_or(ESUCCESS))
        }),
    ];
    if matches!(policy.wasi.random, Random::Seeded { .. }) {
        v.push(HostFunc::new(m, "random_get", ty("random_get"), |cx, a| {
            let (ptr, len) = (arg(a, 0), arg(a, 1));
            let Ok(range) = crate::host::checked_range(ptr, len as usize, cx.memory_size()) else {
                return errno(EFAULT);
            };
            let mut buf = vec![0u8; range.len()];
            match state(cx)?.rng.as_mut() {
                Some(rng) => rng.fill_bytes(&mut buf),
                None => return Err(HostError::new("no seeded generator")),
            }
            errno(store(cx, ptr, &buf).unwrap_or(ESUCCESS))
        }));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn seeded_generators_repeat() {
        let p = Policy::default();
        let mut a = Policy::default();
        a.wasi.random = Random::Seeded { seed: 42 };
        let (mut x, mut y) = (WasiState::new(&a), WasiState::new(&a));
        let (mut bx, mut by) = ([0u8; 32], [0u8; 32]);
        x.rng.as_mut().unwrap().fill_bytes(&mut bx);
        y.rng.as_mut().unwrap().fill_bytes(&mut by);
        assert_eq!(bx, by);
        assert_ne!(bx, [0u8; 32]);
        assert!(WasiState::new(&p).rng.is_none());
    }

    #[test]
    fn frozen_clocks_do_not_move() {
        let mut p = Policy::default();
        p.wasi.clock = Clock::Frozen;
        let s = WasiState::new(&p);
        assert_eq!(s.now(0), Some(FROZEN_REALTIME_NS));
        assert_eq!(s.now(1), Some(FROZEN_MONOTONIC_NS));
        assert_eq!(s.now(2), None);
    }
}
