//! `poll_oneoff`: Cage's own, the same on every runtime.
//!
//! A clock wait is paid for before it starts: [`cage_core::cost::WasiCosts::per_ms_waited`] fuel
//! per millisecond asked for (rounded up), so that a metered guest cannot hold a host thread
//! asleep for free (a guest that cannot pay traps `out_of_fuel` without sleeping). It ends at
//! the call's deadline (`trapped: timeout`) if that comes first: neither runtime interrupts a
//! sleeping host call by itself, so Cage never sleeps past the deadline. With a frozen clock
//! time is virtual and nothing sleeps (the wait is still paid for). Without fuel and without a
//! deadline (the `permissive` preset) a guest sleeps as long as it asks, as it could compute
//! as long as it likes. Descriptor subscriptions are ready at once (stdio is in memory and
//! regular files are always ready), so a poll with any of them does not wait.

use std::time::{Duration, Instant};

use crate::ctx::Desc;
use crate::errno::Errno;
use crate::guest::{Args, Guest, Res};
use cage_core::HostError;
use cage_core::policy::Clock;

const SUBSCRIPTION: u32 = 48;
const EVENT: usize = 32;

/// Sleeps `wait`, or until the call's deadline if that comes first (then the guest traps
/// `timeout`).
fn sleep_within_deadline(g: &mut Guest<'_>, wait: Duration) -> Result<(), HostError> {
    match g.cx().deadline() {
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

enum Sub {
    /// A clock: how long to wait, in nanoseconds.
    Clock(u64),
    /// A descriptor read or write readiness: the event type and the flags to report.
    Fd(u8, u16),
}

/// `poll_oneoff(in, out, nsubscriptions, *nevents)`.
pub(crate) fn poll_oneoff(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let (input, output, n, nevents) = (a.u32(0), a.u32(1), a.u32(2), a.u32(3));
    if n == 0 {
        return Err(Errno::Inval.into());
    }
    let len = n.checked_mul(SUBSCRIPTION).ok_or(Errno::Overflow)?;
    let raw = g.read_aligned(input, len, 8)?;
    let field = |s: &[u8], at: usize, len: usize| {
        let mut b = [0u8; 8];
        b[..len].copy_from_slice(&s[at..at + len]);
        u64::from_le_bytes(b)
    };
    let mut subs = Vec::with_capacity(n as usize);
    for s in raw.chunks_exact(SUBSCRIPTION as usize) {
        let userdata = field(s, 0, 8);
        let sub = match s[8] {
            0 => {
                let (id, timeout, flags) =
                    (field(s, 16, 4) as u32, field(s, 24, 8), field(s, 40, 2));
                if flags & !1 != 0 {
                    return Err(Errno::Inval.into());
                }
                let now = g.wasi()?.now(id).ok_or(Errno::Inval)?;
                let wait = if flags & 1 == 1 {
                    timeout.saturating_sub(now)
                } else {
                    timeout
                };
                Sub::Clock(wait)
            }
            tag @ (1 | 2) => {
                let fd = field(s, 16, 4) as u32;
                let w = g.wasi()?;
                let flags = match (tag, w.fds.get(fd)?) {
                    (1, Desc::Stdin) | (2, Desc::Stdout | Desc::Stderr | Desc::File(_)) => 0,
                    (1, Desc::File(f)) => {
                        // At end of file the read side reports a hang-up.
                        let size = f.file.metadata()?.len();
                        if size <= f.position { 1 } else { 0 }
                    }
                    _ => return Err(Errno::Badf.into()),
                };
                Sub::Fd(tag, flags)
            }
            _ => return Err(Errno::Inval.into()),
        };
        subs.push((userdata, sub));
    }
    let frozen = g.wasi()?.clock == Clock::Frozen;
    let any_fd = subs.iter().any(|(_, s)| matches!(s, Sub::Fd(..)));
    let earliest = subs
        .iter()
        .filter_map(|(_, s)| match s {
            Sub::Clock(w) => Some(*w),
            Sub::Fd(..) => None,
        })
        .min()
        .unwrap_or(0);
    if !any_fd && earliest > 0 {
        let per_ms = g.wasi()?.costs.per_ms_waited;
        g.pay(earliest.div_ceil(1_000_000).saturating_mul(per_ms))?;
        if !frozen {
            sleep_within_deadline(g, Duration::from_nanos(earliest))?;
        }
    }
    let mut out = Vec::new();
    for (userdata, sub) in &subs {
        let (ty, flags) = match sub {
            Sub::Clock(w) if (any_fd && *w == 0) || (!any_fd && *w <= earliest) => (0u8, 0u16),
            Sub::Clock(_) => continue,
            Sub::Fd(ty, flags) => (*ty, *flags),
        };
        let mut e = [0u8; EVENT];
        e[0..8].copy_from_slice(&userdata.to_le_bytes());
        e[10] = ty;
        if ty != 0 {
            e[16..24].copy_from_slice(&1u64.to_le_bytes());
            e[24..26].copy_from_slice(&flags.to_le_bytes());
        }
        out.extend_from_slice(&e);
    }
    let count = (out.len() / EVENT) as u32;
    g.write_aligned(output, &out, 8)?;
    g.put_u32(nevents, count)
}
