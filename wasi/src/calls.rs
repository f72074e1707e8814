//! The WASI preview 1 functions, one Rust function each, written against [`Guest`].
//!
//! Guest-visible behaviour follows Wasmtime's `wasmtime-wasi` preview 1 (the reference): the
//! same descriptor numbering, the same errno for each failure, the same rights reported, reads
//! and writes that move the first non-empty buffer of an iovec table, `EPERM` for any change
//! under a read-only preopen. Where Cage decides differently it says so: directory entries are
//! listed in name order and inode numbers are small per-sandbox numbers (both so that a guest
//! observes exactly the same thing on every runtime, whatever the host's directory order and
//! inode numbers). CPU-time clocks are `EBADF`, as in the reference.
//!
//! Why one file over 800 lines: it is one concern, the body of each WASI preview-1 function
//! (about 45 short functions in the witx order, each reading its arguments, paying, acting,
//! writing its results); the shared machinery lives in `guest`, `ctx`, `errno` and `poll`.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt, SystemTimeSpec};
use rand_core::Rng;

use crate::ctx::{Desc, DirDesc, DirEntry, FileDesc, WasiCtx};
use crate::errno::Errno;
use crate::errno::{CHUNK, Fail};
use crate::guest::{Args, Guest, Res};
use cage_core::HostError;

/// Rights (preview 1 `rights` bits) reported by `fd_fdstat_get`.
mod rights {
    pub(super) const FD_DATASYNC: u64 = 1 << 0;
    pub(super) const FD_READ: u64 = 1 << 1;
    pub(super) const FD_SEEK: u64 = 1 << 2;
    pub(super) const FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
    pub(super) const FD_SYNC: u64 = 1 << 4;
    pub(super) const FD_TELL: u64 = 1 << 5;
    pub(super) const FD_WRITE: u64 = 1 << 6;
    pub(super) const FD_ADVISE: u64 = 1 << 7;
    pub(super) const FD_ALLOCATE: u64 = 1 << 8;
    pub(super) const PATH_CREATE_DIRECTORY: u64 = 1 << 9;
    pub(super) const PATH_CREATE_FILE: u64 = 1 << 10;
    pub(super) const PATH_LINK_SOURCE: u64 = 1 << 11;
    pub(super) const PATH_LINK_TARGET: u64 = 1 << 12;
    pub(super) const PATH_OPEN: u64 = 1 << 13;
    pub(super) const FD_READDIR: u64 = 1 << 14;
    pub(super) const PATH_READLINK: u64 = 1 << 15;
    pub(super) const PATH_RENAME_SOURCE: u64 = 1 << 16;
    pub(super) const PATH_RENAME_TARGET: u64 = 1 << 17;
    pub(super) const PATH_FILESTAT_GET: u64 = 1 << 18;
    pub(super) const PATH_FILESTAT_SET_SIZE: u64 = 1 << 19;
    pub(super) const PATH_FILESTAT_SET_TIMES: u64 = 1 << 20;
    pub(super) const FD_FILESTAT_GET: u64 = 1 << 21;
    pub(super) const FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
    pub(super) const FD_FILESTAT_SET_TIMES: u64 = 1 << 23;
    pub(super) const PATH_SYMLINK: u64 = 1 << 24;
    pub(super) const PATH_REMOVE_DIRECTORY: u64 = 1 << 25;
    pub(super) const PATH_UNLINK_FILE: u64 = 1 << 26;
    pub(super) const POLL_FD_READWRITE: u64 = 1 << 27;
    pub(super) const ALL: u64 = (1 << 30) - 1;

    /// What a preopened directory reports (the set many userlands expect).
    pub(super) const PREOPEN_BASE: u64 = PATH_CREATE_DIRECTORY
        | PATH_CREATE_FILE
        | PATH_LINK_SOURCE
        | PATH_LINK_TARGET
        | PATH_OPEN
        | FD_READDIR
        | PATH_READLINK
        | PATH_RENAME_SOURCE
        | PATH_RENAME_TARGET
        | PATH_SYMLINK
        | PATH_REMOVE_DIRECTORY
        | PATH_UNLINK_FILE
        | PATH_FILESTAT_GET
        | PATH_FILESTAT_SET_TIMES
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_TIMES;
    pub(super) const PREOPEN_INHERITING: u64 = PREOPEN_BASE
        | FD_DATASYNC
        | FD_READ
        | FD_SEEK
        | FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_TELL
        | FD_WRITE
        | FD_ADVISE
        | FD_ALLOCATE
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_SIZE
        | FD_FILESTAT_SET_TIMES
        | POLL_FD_READWRITE;
}

/// `fdflags` bits.
const FDFLAGS_APPEND: u32 = 1;
const FDFLAGS_DSYNC: u32 = 2;
const FDFLAGS_NONBLOCK: u32 = 4;
const FDFLAGS_RSYNC: u32 = 8;
const FDFLAGS_SYNC: u32 = 16;
/// `oflags` bits.
const OFLAGS_CREAT: u32 = 1;
const OFLAGS_DIRECTORY: u32 = 2;
const OFLAGS_EXCL: u32 = 4;
const OFLAGS_TRUNC: u32 = 8;
/// `lookupflags::symlink_follow`.
const LOOKUP_FOLLOW: u32 = 1;
/// `fstflags` bits.
const FST_ATIM: u32 = 1;
const FST_ATIM_NOW: u32 = 2;
const FST_MTIM: u32 = 4;
const FST_MTIM_NOW: u32 = 8;

/// `filetype` values.
mod filetype {
    pub(super) const UNKNOWN: u8 = 0;
    pub(super) const BLOCK_DEVICE: u8 = 1;
    pub(super) const CHARACTER_DEVICE: u8 = 2;
    pub(super) const DIRECTORY: u8 = 3;
    pub(super) const REGULAR_FILE: u8 = 4;
    pub(super) const SYMBOLIC_LINK: u8 = 7;
}

/// An argument that is not a value of its preview 1 type (a flags argument with unknown bits,
/// an enum argument out of range): the guest traps `host_error`, as under Wasmtime's preview 1,
/// whose generated glue refuses such an argument before the call runs.
fn invalid_argument(what: &str, v: u64) -> Fail {
    Fail::Trap(HostError::new(format!(
        "invalid argument: {v} is not a preview 1 {what}"
    )))
}

/// A flags argument of type `what` whose bits must be within `valid` (else a trap, see
/// [`invalid_argument`]).
fn flags(v: u32, valid: u32, what: &str) -> Res<u32> {
    if v & !valid != 0 {
        return Err(invalid_argument(what, u64::from(v)));
    }
    Ok(v)
}

/// An enum argument of type `what` whose values are `0..=max` (else a trap).
fn enum_value(v: u32, max: u32, what: &str) -> Res<u32> {
    if v > max {
        return Err(invalid_argument(what, u64::from(v)));
    }
    Ok(v)
}

/// A clock id argument: `realtime` and `monotonic` are Cage's clocks; the CPU-time clocks are
/// `EBADF` (as Wasmtime's preview 1 answers); anything else is not a clock id (a trap).
fn clock_id(v: u32) -> Res<u32> {
    match enum_value(v, 3, "clockid")? {
        0 | 1 => Ok(v),
        _ => Err(Errno::Badf.into()),
    }
}

/// A rights argument: 30 bits (else a trap).
fn rights_value(v: u64) -> Res<u64> {
    if v & !rights::ALL != 0 {
        return Err(invalid_argument("rights", v));
    }
    Ok(v)
}

// ---------------------------------------------------------------------------------------------
// Arguments and environment

/// Writes `items` as NUL-terminated strings into `buf` and their addresses into `ptrs`.
fn put_strings(g: &mut Guest<'_>, ptrs: u32, buf: u32, items: &[Vec<u8>]) -> Res<()> {
    let mut at = buf;
    for (i, item) in items.iter().enumerate() {
        let slot = ptrs
            .checked_add(4 * i as u32)
            .ok_or(HostError::MemoryOutOfBounds {
                offset: u64::from(ptrs),
                len: 4,
            })?;
        g.put_u32(slot, at)?;
        let mut bytes = item.clone();
        bytes.push(0);
        g.write(at, &bytes)?;
        at = at
            .checked_add(bytes.len() as u32)
            .ok_or(HostError::MemoryOutOfBounds {
                offset: u64::from(at),
                len: bytes.len() as u64,
            })?;
    }
    Ok(())
}

fn args_list(w: &WasiCtx) -> Vec<Vec<u8>> {
    w.args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

fn env_list(w: &WasiCtx) -> Vec<Vec<u8>> {
    w.env
        .iter()
        .map(|(k, v)| format!("{k}={v}").into_bytes())
        .collect()
}

fn sizes(g: &mut Guest<'_>, a: &Args<'_>, items: &[Vec<u8>]) -> Res<()> {
    let count = u32::try_from(items.len()).map_err(|_| Errno::Overflow)?;
    let bytes: usize = items.iter().map(|i| i.len() + 1).sum();
    let bytes = u32::try_from(bytes).map_err(|_| Errno::Overflow)?;
    g.put_u32(a.u32(0), count)?;
    g.put_u32(a.u32(1), bytes)
}

pub(crate) fn args_get(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    g.wasi()?.used.args.set(true);
    let items = args_list(g.wasi()?);
    put_strings(g, a.u32(0), a.u32(1), &items)
}

pub(crate) fn args_sizes_get(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    g.wasi()?.used.args.set(true);
    let items = args_list(g.wasi()?);
    sizes(g, a, &items)
}

pub(crate) fn environ_get(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    g.wasi()?.used.environ.set(true);
    let items = env_list(g.wasi()?);
    put_strings(g, a.u32(0), a.u32(1), &items)
}

pub(crate) fn environ_sizes_get(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    g.wasi()?.used.environ.set(true);
    let items = env_list(g.wasi()?);
    sizes(g, a, &items)
}

// ---------------------------------------------------------------------------------------------
// Clocks, random, scheduling, signals, sockets

pub(crate) fn clock_res_get(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let id = clock_id(a.u32(0))?;
    g.wasi()?.used.clock.set(true);
    if g.wasi()?.now(id).is_none() {
        return Err(Errno::Badf.into());
    }
    g.put_u64(a.u32(1), 1)
}

pub(crate) fn clock_time_get(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    g.wasi()?.used.clock.set(true);
    let id = clock_id(a.u32(0))?;
    let now = g.wasi()?.now(id).ok_or(Errno::Badf)?;
    g.put_u64(a.u32(2), now)
}

/// `random_get(buf, len)`: out of bounds traps; more than `limits.max_io_per_call` is
/// `ENOMEM` (Wasmtime's own WASI refuses more than 64 MiB); the bytes are paid for before any is
/// generated, and generated a chunk at a time straight into guest memory.
pub(crate) fn random_get(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    g.wasi()?.used.random.set(true);
    let (ptr, len) = (a.u32(0), a.u32(1));
    g.take_io(u64::from(len))?;
    g.fill_from(ptr, u64::from(len), |g, chunk| {
        match g.wasi()?.rng.as_mut() {
            Some(rng) => rng.fill_bytes(chunk),
            None => getrandom::fill(chunk)
                .map_err(|e| HostError::new(format!("the OS random generator failed: {e}")))?,
        }
        Ok(chunk.len())
    })?;
    Ok(())
}

pub(crate) fn sched_yield(_: &mut Guest<'_>, _: &Args<'_>) -> Res<()> {
    Ok(())
}

pub(crate) fn proc_raise(_: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    enum_value(a.u32(0), 30, "signal")?;
    Err(Errno::Notsup.into())
}

/// Every `sock_*` call: `EBADF` for a descriptor that does not exist, else `ENOTSOCK` (preview 1
/// cannot create sockets, and Cage grants none).
pub(crate) fn sock(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    g.wasi()?.fds.get(a.u32(0))?;
    Err(Errno::Notsock.into())
}

/// `sock_accept(fd, fdflags, *fd)`.
pub(crate) fn sock_accept(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    flags(a.u32(1), 0x1f, "fdflags")?;
    sock(g, a)
}

/// `sock_recv(fd, ri_data, ri_data_len, riflags, *ro_datalen, *ro_flags)`.
pub(crate) fn sock_recv(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    flags(a.u32(3), 0x3, "riflags")?;
    sock(g, a)
}

/// `sock_send(fd, si_data, si_data_len, siflags, *so_datalen)`.
pub(crate) fn sock_send(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    flags(a.u32(3), 0xffff, "siflags")?;
    sock(g, a)
}

/// `sock_shutdown(fd, sdflags)`.
pub(crate) fn sock_shutdown(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    flags(a.u32(1), 0x3, "sdflags")?;
    sock(g, a)
}

// ---------------------------------------------------------------------------------------------
// Descriptors

pub(crate) fn fd_close(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    g.wasi()?.fds.remove(a.u32(0))?;
    Ok(())
}

pub(crate) fn fd_renumber(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let (from, to) = (a.u32(0), a.u32(1));
    let fds = &mut g.wasi()?.fds;
    if !fds.used.contains_key(&from) || !fds.used.contains_key(&to) {
        return Err(Errno::Badf.into());
    }
    if from == to {
        return Ok(());
    }
    fds.remove(to)?;
    let d = fds.remove(from)?;
    fds.free.remove(&to);
    fds.used.insert(to, d);
    Ok(())
}

pub(crate) fn fd_advise(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let advice = enum_value(a.u32(3), 5, "advice")?;
    let f = g.wasi()?.fds.file(a.u32(0))?;
    // A hint to the host's page cache, passed on as Wasmtime's preview 1 does (on Linux).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::Advice;
        let advice = match advice {
            0 => Advice::Normal,
            1 => Advice::Sequential,
            2 => Advice::Random,
            3 => Advice::WillNeed,
            4 => Advice::DontNeed,
            _ => Advice::NoReuse,
        };
        rustix::fs::fadvise(
            &f.file,
            a.u64(1),
            std::num::NonZeroU64::new(a.u64(2)),
            advice,
        )
        .map_err(|e| Errno::from(&std::io::Error::from(e)))?;
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = (advice, f);
    Ok(())
}

pub(crate) fn fd_allocate(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    g.wasi()?.fds.file(a.u32(0))?;
    Err(Errno::Notsup.into())
}

/// `fd_sync` and `fd_datasync`: a flush costs the whole host's disk a journal commit and a cache
/// flush, so it is paid for ([`cage_core::cost::WasiCosts::per_sync`]) and done only when the
/// sandbox changed a file since its last flush (otherwise there is nothing of its own to
/// flush, and the call succeeds at once): a guest cannot buy a storm of flushes with overwrites
/// of one byte for almost no fuel.
fn sync(g: &mut Guest<'_>, fd: u32, all: bool) -> Res<()> {
    g.wasi()?.fds.file(fd)?;
    if !g.wasi()?.unsynced {
        return Ok(());
    }
    let cost = g.wasi()?.costs.per_sync;
    g.pay(cost)?;
    let w = g.wasi()?;
    let f = w.fds.file(fd)?;
    if all {
        f.file.sync_all()?;
    } else {
        f.file.sync_data()?;
    }
    w.unsynced = false;
    Ok(())
}

pub(crate) fn fd_datasync(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    sync(g, a.u32(0), false)
}

pub(crate) fn fd_sync(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    sync(g, a.u32(0), true)
}

/// `fd_fdstat_get(fd, *fdstat)`: type, flags and rights, 24 bytes.
pub(crate) fn fd_fdstat_get(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let w = g.wasi()?;
    let d = w.fds.get(a.u32(0))?;
    let (ty, flags, base, inheriting) = match d {
        Desc::Stdin => (stdio_type(w, d), 0, rights::FD_READ, rights::FD_READ),
        Desc::Stdout | Desc::Stderr => (stdio_type(w, d), 0, rights::FD_WRITE, rights::FD_WRITE),
        Desc::Dir(DirDesc {
            preopen: Some(_), ..
        }) => (
            filetype::DIRECTORY,
            0,
            rights::PREOPEN_BASE,
            rights::PREOPEN_INHERITING,
        ),
        Desc::Dir(dir) => {
            let mut r = rights::ALL
                & !(rights::FD_SEEK
                    | rights::FD_FILESTAT_SET_SIZE
                    | rights::PATH_FILESTAT_SET_SIZE)
                & !rights::FD_WRITE;
            if !dir.read {
                r &= !(rights::FD_READ | rights::FD_READDIR);
            }
            (filetype::DIRECTORY, 0, r, r)
        }
        Desc::File(f) => {
            let ty = file_type(&cap_std::fs::Metadata::from_file(&f.file)?.file_type());
            let mut r = rights::ALL;
            if ty == filetype::DIRECTORY {
                r &= !(rights::FD_SEEK
                    | rights::FD_FILESTAT_SET_SIZE
                    | rights::PATH_FILESTAT_SET_SIZE);
            }
            if !f.read {
                r &= !(rights::FD_READ | rights::FD_READDIR);
            }
            if !f.write {
                r &= !rights::FD_WRITE;
            }
            let mut fl = 0u16;
            if f.append {
                fl |= FDFLAGS_APPEND as u16;
            }
            if f.nonblock {
                fl |= FDFLAGS_NONBLOCK as u16;
            }
            (ty, fl, r, r)
        }
    };
    let mut out = [0u8; 24];
    out[0] = ty;
    out[2..4].copy_from_slice(&flags.to_le_bytes());
    out[8..16].copy_from_slice(&base.to_le_bytes());
    out[16..24].copy_from_slice(&inheriting.to_le_bytes());
    g.write_aligned(a.u32(1), &out, 8)
}

fn stdio_type(w: &WasiCtx, d: &Desc) -> u8 {
    if w.is_terminal(d) {
        filetype::CHARACTER_DEVICE
    } else {
        filetype::UNKNOWN
    }
}

pub(crate) fn fd_fdstat_set_flags(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let fl = flags(a.u32(1), 0x1f, "fdflags")?;
    let f = g.wasi()?.fds.file(a.u32(0))?;
    if fl & (FDFLAGS_DSYNC | FDFLAGS_SYNC | FDFLAGS_RSYNC) != 0 {
        return Err(Errno::Inval.into());
    }
    f.append = fl & FDFLAGS_APPEND != 0;
    f.nonblock = fl & FDFLAGS_NONBLOCK != 0;
    Ok(())
}

pub(crate) fn fd_fdstat_set_rights(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    rights_value(a.u64(1))?;
    rights_value(a.u64(2))?;
    match g.wasi()?.fds.get(a.u32(0))? {
        Desc::Dir(_) | Desc::File(_) => Err(Errno::Notsup.into()),
        _ => Err(Errno::Badf.into()),
    }
}

/// A `filestat` (64 bytes) for metadata `m`. A timestamp past what 64 bits of nanoseconds
/// hold (after 2554) is `EOVERFLOW`, as under Wasmtime's preview 1.
fn filestat(w: &mut WasiCtx, m: &cap_std::fs::Metadata) -> Res<[u8; 64]> {
    let (dev, ino, nlink) = identity(m);
    let nanos = |t: std::io::Result<cap_std::time::SystemTime>| -> Res<u64> {
        match t
            .ok()
            .and_then(|t| t.into_std().duration_since(UNIX_EPOCH).ok())
        {
            Some(d) => Ok(u64::try_from(d.as_nanos()).map_err(|_| Errno::Overflow)?),
            None => Ok(0),
        }
    };
    let times = [
        nanos(m.accessed())?,
        nanos(m.modified())?,
        nanos(m.created())?,
    ];
    let ino = w.inode(dev, ino);
    let mut out = [0u8; 64];
    out[0..8].copy_from_slice(&1u64.to_le_bytes());
    out[8..16].copy_from_slice(&ino.to_le_bytes());
    out[16] = file_type(&m.file_type());
    out[24..32].copy_from_slice(&nlink.to_le_bytes());
    out[32..40].copy_from_slice(&m.len().to_le_bytes());
    out[40..48].copy_from_slice(&times[0].to_le_bytes());
    out[48..56].copy_from_slice(&times[1].to_le_bytes());
    out[56..64].copy_from_slice(&times[2].to_le_bytes());
    Ok(out)
}

#[cfg(unix)]
fn identity(m: &cap_std::fs::Metadata) -> (u64, u64, u64) {
    use cap_std::fs::MetadataExt;
    (m.dev(), m.ino(), m.nlink())
}

#[cfg(not(unix))]
fn identity(_: &cap_std::fs::Metadata) -> (u64, u64, u64) {
    (0, 0, 1)
}

fn file_type(t: &cap_std::fs::FileType) -> u8 {
    #[cfg(unix)]
    use cap_std::fs::FileTypeExt;
    if t.is_dir() {
        filetype::DIRECTORY
    } else if t.is_symlink() {
        filetype::SYMBOLIC_LINK
    } else if t.is_file() {
        filetype::REGULAR_FILE
    } else {
        #[cfg(unix)]
        {
            if t.is_block_device() {
                return filetype::BLOCK_DEVICE;
            }
            if t.is_char_device() {
                return filetype::CHARACTER_DEVICE;
            }
        }
        filetype::UNKNOWN
    }
}

pub(crate) fn fd_filestat_get(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let w = g.wasi()?;
    let meta = match w.fds.get(a.u32(0))? {
        d @ (Desc::Stdin | Desc::Stdout | Desc::Stderr) => {
            let mut out = [0u8; 64];
            out[16] = stdio_type(w, d);
            return g.write_aligned(a.u32(1), &out, 8);
        }
        Desc::Dir(d) => d.dir.dir_metadata()?,
        Desc::File(f) => cap_std::fs::Metadata::from_file(&f.file)?,
    };
    let out = filestat(w, &meta)?;
    g.write_aligned(a.u32(1), &out, 8)
}

pub(crate) fn fd_filestat_set_size(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let w = g.wasi()?;
    let f = w.fds.file(a.u32(0))?;
    w.used.changed(f.root);
    if f.read_only {
        return Err(Errno::Perm.into());
    }
    let new = a.u64(1);
    // Growth counts against `limits.max_disk_write`, checked before the file changes.
    let growth = new.saturating_sub(f.file.metadata()?.len());
    if growth > w.disk_left {
        return Err(Errno::Nospc.into());
    }
    w.fds.file(a.u32(0))?.file.set_len(new)?;
    w.disk_left -= growth;
    w.unsynced = true;
    Ok(())
}

/// A new timestamp from `fstflags`: `None` leaves it unchanged; both "set" and "now" is
/// `EINVAL`.
fn new_time(set: bool, now: bool, ns: u64) -> Res<Option<SystemTime>> {
    match (set, now) {
        (true, true) => Err(Errno::Inval.into()),
        (true, false) => Ok(Some(
            UNIX_EPOCH
                .checked_add(Duration::from_nanos(ns))
                .ok_or(Errno::Overflow)?,
        )),
        (false, true) => Ok(Some(SystemTime::now())),
        (false, false) => Ok(None),
    }
}

fn times(a: &Args<'_>, at: usize) -> Res<(Option<SystemTime>, Option<SystemTime>)> {
    let fst = flags(a.u32(at + 2), 0xf, "fstflags")?;
    let atim = new_time(fst & FST_ATIM != 0, fst & FST_ATIM_NOW != 0, a.u64(at))?;
    let mtim = new_time(fst & FST_MTIM != 0, fst & FST_MTIM_NOW != 0, a.u64(at + 1))?;
    Ok((atim, mtim))
}

pub(crate) fn fd_filestat_set_times(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let (atim, mtim) = times(a, 1)?;
    let spec = |t: Option<SystemTime>| {
        t.map(|t| SystemTimeSpec::Absolute(cap_std::time::SystemTime::from_std(t)))
    };
    let w = g.wasi()?;
    match w.fds.get(a.u32(0))? {
        Desc::File(f) => {
            w.used.changed(f.root);
            if f.read_only {
                return Err(Errno::Perm.into());
            }
            let mut t = std::fs::FileTimes::new();
            if let Some(x) = atim {
                t = t.set_accessed(x);
            }
            if let Some(x) = mtim {
                t = t.set_modified(x);
            }
            f.file.set_times(t)?;
        }
        Desc::Dir(d) => {
            w.used.changed(d.root);
            if d.read_only {
                return Err(Errno::Perm.into());
            }
            d.dir.set_times(".", spec(atim), spec(mtim))?;
        }
        _ => return Err(Errno::Badf.into()),
    }
    Ok(())
}

/// The most one `fd_pread` returns, as Wasmtime's preview 1 (the guest asks again for more).
const PREAD_MAX: u64 = 64 << 10;

/// Reads for `fd_read` and `fd_pread` from file `fd` into guest memory at `ptr`: at most `want`
/// bytes at `at` (or the file's position), into guest memory a chunk at a time. What the read
/// will move (`want`, or less when less is left of the file) is affordable before any byte is
/// read, and charged as it moves.
fn read_file(g: &mut Guest<'_>, fd: u32, ptr: u32, want: u64, at: Option<u64>) -> Res<u64> {
    // `fd_read` only: `fd_pread` checks only the bytes it reads against guest memory (as
    // `wasmtime-wasi` does), so it must learn first how many there are.
    let small = at.is_none() && want <= CHUNK as u64 && g.can_afford(g.byte_cost(want));
    let f = g.wasi()?.fds.file(fd)?;
    // Decided before either way below, so that both give the same answer: a file not open for
    // reading is `EBADF`, and a position the OS cannot take (past `i64::MAX`, reachable with
    // `fd_seek` or `fd_pread`'s offset) `EINVAL`, as the OS's `pread` says to `wasmtime-wasi`.
    if !f.read {
        return Err(Errno::Badf.into());
    }
    let pos = at.unwrap_or(f.position);
    if i64::try_from(pos).is_err() {
        return Err(Errno::Inval.into());
    }
    // A read of one chunk that the guest can pay for in full goes straight to the file (one
    // `pread`, as `wasmtime-wasi` does; it moves and charges only what the file has; the
    // whole buffer was checked by `fd_read`). A larger one, or one the guest cannot pay for in
    // full, or a `pread`, first learns what is left of the file, so that only what can move
    // must be affordable up front and in bounds (the outcome is the same either way).
    let n = if small {
        want
    } else {
        match f.file.metadata()?.len() {
            // A file that reports no size (as /proc and sysfs files do) is read a chunk at a time.
            0 => want.min(CHUNK as u64),
            size => want.min(size.saturating_sub(pos)),
        }
    };
    let mut off = pos;
    let moved = g.fill_from(ptr, n, |g, chunk| {
        let f = g.wasi()?.fds.file(fd)?;
        let got = read_at(&f.file, chunk, off)?;
        off += got as u64;
        Ok(got)
    })?;
    if at.is_none() {
        let f = g.wasi()?.fds.file(fd)?;
        f.position = pos.checked_add(moved).ok_or(Errno::Overflow)?;
    }
    Ok(moved)
}

#[cfg(unix)]
fn read_at(f: &std::fs::File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(f, buf, pos)
}

#[cfg(unix)]
fn write_at(f: &std::fs::File, buf: &[u8], pos: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::write_at(f, buf, pos)
}

#[cfg(windows)]
fn read_at(f: &std::fs::File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(f, buf, pos)
}

#[cfg(windows)]
fn write_at(f: &std::fs::File, buf: &[u8], pos: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_write(f, buf, pos)
}

/// The descriptor `fd` for a read (`pread`: at an offset): a file, or stdin for `fd_read`;
/// checked before the guest's buffer is (as Wasmtime's preview 1 does).
fn readable(g: &mut Guest<'_>, fd: u32, pread: bool) -> Res<bool> {
    match g.wasi()?.fds.get(fd)? {
        Desc::File(_) => Ok(true),
        Desc::Stdin if pread => Err(Errno::Spipe.into()),
        Desc::Stdin => Ok(false),
        _ => Err(Errno::Badf.into()),
    }
}

/// `fd_read(fd, iovs, iovs_len, *nread)`: into the first non-empty buffer. A file read checks
/// the whole buffer first; stdin copies (and checks) only what it read.
pub(crate) fn fd_read(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let (buf, len) = g.first_buffer(a.u32(1), a.u32(2))?;
    let fd = a.u32(0);
    let n = if readable(g, fd, false)? {
        g.check_buffer(buf, len)?;
        read_file(g, fd, buf, u64::from(len), None)?
    } else {
        let want = u64::from(len).min(g.wasi()?.stdin_ready());
        let deadline = g.cx().deadline();
        g.fill_from(buf, want, |g, chunk| g.wasi()?.read_stdin(chunk, deadline))?
    };
    g.put_u32(a.u32(3), n as u32)
}

/// `fd_pread(fd, iovs, iovs_len, offset, *nread)`: at most 64 KiB per call, as Wasmtime's
/// preview 1.
pub(crate) fn fd_pread(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let (buf, len) = g.first_buffer(a.u32(1), a.u32(2))?;
    let fd = a.u32(0);
    readable(g, fd, true)?;
    let want = u64::from(len).min(PREAD_MAX);
    let n = read_file(g, fd, buf, want, Some(a.u64(3)))?;
    g.put_u32(a.u32(4), n as u32)
}

/// Writes for `fd_write` (`at = None`: at the position) and `fd_pwrite`.
///
/// A write to a file counts what it adds past the end against `limits.max_disk_write`: one
/// that does not fit writes what fits (a short write), or fails with `ENOSPC` when nothing
/// fits. Data moves a chunk at a time, each chunk paid for as it is copied out of guest memory.
fn write_common(g: &mut Guest<'_>, a: &Args<'_>, at: Option<u64>, result: u32) -> Res<()> {
    let (buf, len) = g.first_buffer(a.u32(1), a.u32(2))?;
    let fd = a.u32(0);
    let want = u64::from(len);
    // The descriptor is checked before the guest's buffer is.
    let n = match g.wasi()?.fds.get(fd)? {
        Desc::File(_) => {
            let w = g.wasi()?;
            let disk_left = w.disk_left;
            let f = w.fds.file(fd)?;
            let size = f.file.metadata()?.len();
            let start = match at {
                _ if f.append => size,
                Some(at) => at,
                None => f.position,
            };
            // Growth: what lands past the end, and what fills holes of a sparse file (real disk
            // either way).
            let holes = holes_in(&f.file, start, start.saturating_add(want).min(size))?;
            let growth = start.saturating_add(want).saturating_sub(size) + holes;
            let fits = want.saturating_sub(growth.saturating_sub(disk_left));
            if fits == 0 && want > 0 {
                g.check_buffer(buf, len)?;
                return Err(Errno::Nospc.into());
            }
            let mut off = start;
            let n = g.drain_into(buf, fits, |g, piece| {
                let f = g.wasi()?.fds.file(fd)?;
                let n = write_at(&f.file, piece, off)?;
                off += n as u64;
                Ok(n)
            })?;
            let w = g.wasi()?;
            // What it wrote into holes is at most the holes it was charged for.
            let grew = start.saturating_add(n).saturating_sub(size) + holes.min(n);
            w.disk_left -= grew.min(w.disk_left);
            w.unsynced = true;
            if at.is_none() {
                let f = w.fds.file(fd)?;
                f.position = start.checked_add(n).ok_or(Errno::Overflow)?;
            }
            n
        }
        Desc::Stdout | Desc::Stderr if at.is_some() => return Err(Errno::Spipe.into()),
        d @ (Desc::Stdout | Desc::Stderr) => {
            let err = matches!(d, Desc::Stderr);
            let want = want.min(g.wasi()?.stdio_piece(err));
            let deadline = g.cx().deadline();
            g.drain_into(buf, want, |g, piece| {
                g.wasi()?.write_stdio(err, piece, deadline)
            })?
        }
        _ => return Err(Errno::Badf.into()),
    };
    g.put_u32(result, n as u32)
}

pub(crate) fn fd_write(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    write_common(g, a, None, a.u32(3))
}

pub(crate) fn fd_pwrite(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    write_common(g, a, Some(a.u64(3)), a.u32(4))
}

/// The file `fd` for seeking: stdio is `ESPIPE`, anything else not a file `EBADF`.
fn seekable(w: &mut WasiCtx, fd: u32) -> Res<&mut FileDesc> {
    match w.fds.get_mut(fd)? {
        Desc::File(f) => Ok(f),
        Desc::Stdin | Desc::Stdout | Desc::Stderr => Err(Errno::Spipe.into()),
        Desc::Dir(_) => Err(Errno::Badf.into()),
    }
}

pub(crate) fn fd_seek(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let (offset, whence) = (a.u64(1) as i64, enum_value(a.u32(2), 2, "whence")?);
    let f = seekable(g.wasi()?, a.u32(0))?;
    let pos = match whence {
        0 => u64::try_from(offset).map_err(|_| Errno::Inval)?,
        1 => f.position.checked_add_signed(offset).ok_or(Errno::Inval)?,
        _ => {
            let size = f.file.metadata()?.len();
            size.checked_add_signed(offset).ok_or(Errno::Inval)?
        }
    };
    f.position = pos;
    g.put_u64(a.u32(3), pos)
}

pub(crate) fn fd_tell(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let pos = seekable(g.wasi()?, a.u32(0))?.position;
    g.put_u64(a.u32(1), pos)
}

pub(crate) fn fd_prestat_get(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let len = match g.wasi()?.fds.get(a.u32(0))? {
        Desc::Dir(DirDesc {
            preopen: Some(p), ..
        }) => u32::try_from(p.len()).map_err(|_| Errno::Overflow)?,
        _ => return Err(Errno::Badf.into()),
    };
    let mut out = [0u8; 8];
    out[4..8].copy_from_slice(&len.to_le_bytes());
    g.write_aligned(a.u32(1), &out, 4)
}

pub(crate) fn fd_prestat_dir_name(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let name = match g.wasi()?.fds.get(a.u32(0))? {
        Desc::Dir(DirDesc {
            preopen: Some(p), ..
        }) => p.clone(),
        _ => return Err(Errno::Notdir.into()),
    };
    if name.len() > a.u32(2) as usize {
        return Err(Errno::Nametoolong.into());
    }
    g.write(a.u32(1), name.as_bytes())
}

/// The bytes an entry takes in `fd_readdir`'s output: a 24-byte header and the name.
fn dirent_len(e: &DirEntry) -> u64 {
    24 + e.name.len() as u64
}

/// How many entries a listing reads between two looks at the deadline.
const ENTRIES_PER_DEADLINE_CHECK: usize = 256;

/// Reads the directory `fd` from the host into its sorted listing: `.`, `..`, then the entries
/// in name order. Each entry is paid for ([`cage_core::cost::WasiCosts::per_dir_entry`]) before the
/// next is read, the deadline is looked at as it goes, and the listing's size is bounded by
/// `limits.max_io_per_call` (`ENOMEM` past it): a listing is host work and host memory, and the
/// guest pays for both before it gets any of it.
fn read_listing(g: &mut Guest<'_>, fd: u32) -> Res<()> {
    let (per_entry, max) = {
        let w = g.wasi()?;
        (w.costs.per_dir_entry, w.max_io)
    };
    let deadline = g.cx().deadline();
    let (here, entries) = {
        let dir = g.wasi()?.fds.dir(fd)?;
        (dir.dir.dir_metadata()?, dir.dir.entries()?)
    };
    let mut raw: Vec<(Vec<u8>, u8, u64)> = Vec::new();
    let mut bytes = 48u64;
    for (i, e) in entries.enumerate() {
        g.pay(per_entry)?;
        if i % ENTRIES_PER_DEADLINE_CHECK == ENTRIES_PER_DEADLINE_CHECK - 1
            && deadline.is_some_and(|d| std::time::Instant::now() >= d)
        {
            return Err(HostError::Timeout.into());
        }
        let e = e?;
        let name = e.file_name().into_string().map_err(|_| Errno::Ilseq)?;
        bytes += 24 + name.len() as u64;
        if bytes > max {
            return Err(Errno::Nomem.into());
        }
        #[cfg(unix)]
        let ino = std::os::unix::fs::DirEntryExt::ino(&e);
        #[cfg(not(unix))]
        let ino = 0;
        raw.push((name.into_bytes(), file_type(&e.file_type()?), ino));
    }
    raw.sort_by(|x, y| x.0.cmp(&y.0));
    let w = g.wasi()?;
    let (dev, ino, _) = identity(&here);
    let dot = w.inode(dev, ino);
    let mut listing = Vec::with_capacity(raw.len() + 2);
    for name in [&b"."[..], &b".."[..]] {
        listing.push(DirEntry {
            name: name.to_vec(),
            ty: filetype::DIRECTORY,
            ino: dot,
        });
    }
    for (name, ty, ino) in raw {
        let ino = w.inode(dev, ino);
        listing.push(DirEntry { name, ty, ino });
    }
    // The listings a sandbox keeps, over all its open directories, stay within
    // `limits.max_io_per_call`: the others are dropped (read again, and paid again, if the
    // guest goes on with them) rather than kept without bound.
    let new_bytes: u64 = listing.iter().map(dirent_len).sum();
    let kept: u64 = w
        .fds
        .used
        .values()
        .filter_map(|d| match d {
            Desc::Dir(d) => d.listing.as_deref(),
            _ => None,
        })
        .flat_map(|l| l.iter().map(dirent_len))
        .sum();
    if kept + new_bytes > w.max_io {
        for d in w.fds.used.values_mut() {
            if let Desc::Dir(d) = d {
                d.listing = None;
            }
        }
    }
    if let Some(Desc::Dir(d)) = w.fds.used.get_mut(&fd) {
        d.listing = Some(listing);
    }
    Ok(())
}

/// Bytes of `[start, end)` of `file` that are holes (sparse: no disk allocated), which a write
/// there would allocate. Where the filesystem cannot say, none.
fn holes_in(file: &std::fs::File, start: u64, end: u64) -> Res<u64> {
    if start >= end {
        return Ok(0);
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{SeekFrom, seek};
        let mut holes = 0u64;
        let mut at = start;
        while at < end {
            // The next hole at or after `at` (the end of the file counts as one).
            let Ok(hole) = seek(file, SeekFrom::Hole(at)) else {
                return Ok(holes);
            };
            if hole >= end {
                break;
            }
            // Where data starts again (ENXIO: not before the end of the file).
            let data = seek(file, SeekFrom::Data(hole)).unwrap_or(end);
            let upto = data.min(end);
            holes += upto - hole;
            at = upto;
        }
        Ok(holes)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = file;
        Ok(0)
    }
}

/// `fd_readdir(fd, buf, len, cookie, *used)`: `.`, `..`, then the entries in name order; the
/// cookie is the index of the next entry. The last entry is cut at the end of the buffer, as
/// preview 1 specifies (the guest then asks again from its cookie with a larger buffer).
///
/// The listing is read from the host once per pass: when the guest starts from cookie 0 (or
/// has no listing yet), and kept on the descriptor; later calls serve from it. So a full pass
/// costs host work linear in the directory's size, however small the guest's buffer, and the
/// guest pays for every entry read (see [`read_listing`]).
pub(crate) fn fd_readdir(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let (fd, buf, cap, cookie, used) = (a.u32(0), a.u32(1), a.u32(2), a.u64(3), a.u32(4));
    {
        let w = g.wasi()?;
        let dir = w.fds.dir(fd)?;
        w.used.reached(dir.root);
    }
    g.check_buffer(buf, cap)?;
    if cookie == 0 || g.wasi()?.fds.dir(fd)?.listing.is_none() {
        read_listing(g, fd)?;
    }
    let skip = usize::try_from(cookie).unwrap_or(usize::MAX);
    let out = {
        let listing = match g.wasi()?.fds.dir(fd)?.listing.as_deref() {
            Some(l) => l,
            None => &[],
        };
        // What this call returns: the entries from the cookie on, up to the buffer's size
        // (looked at only as far as the buffer reaches, so a pass stays linear).
        let mut len = 0u64;
        for e in listing.iter().skip(skip) {
            if len >= u64::from(cap) {
                break;
            }
            len += dirent_len(e);
        }
        let len = len.min(u64::from(cap));
        let mut out = Vec::with_capacity(len as usize);
        for (i, e) in listing.iter().enumerate().skip(skip) {
            if out.len() as u64 >= len {
                break;
            }
            let mut head = [0u8; 24];
            head[0..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            head[8..16].copy_from_slice(&e.ino.to_le_bytes());
            head[16..20].copy_from_slice(&(e.name.len() as u32).to_le_bytes());
            head[20] = e.ty;
            out.extend_from_slice(&head);
            out.extend_from_slice(&e.name);
        }
        out.truncate(len as usize);
        out
    };
    g.write(buf, &out)?;
    g.put_u32(used, out.len() as u32)
}

// ---------------------------------------------------------------------------------------------
// Paths

/// The directory `fd` for a path operation: anything else is `EBADF`.
fn dir_of(w: &WasiCtx, fd: u32) -> Res<&DirDesc> {
    let d = w.fds.dir(fd)?;
    w.used.reached(d.root);
    Ok(d)
}

/// A change under `dirs`: noted (for [`WasiCtx::usage`]), then refused with `EPERM` if one of
/// them is read-only.
fn refuse_change(w: &WasiCtx, dirs: &[&DirDesc]) -> Res<()> {
    for d in dirs {
        w.used.changed(d.root);
    }
    if dirs.iter().any(|d| d.read_only) {
        return Err(Errno::Perm.into());
    }
    Ok(())
}

pub(crate) fn path_create_directory(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let fd = a.u32(0);
    dir_of(g.wasi()?, fd)?;
    let path = g.string(a.u32(1), a.u32(2))?;
    let w = g.wasi()?;
    let d = dir_of(w, fd)?;
    refuse_change(w, &[d])?;
    w.may_create()?;
    d.dir.create_dir(&path)?;
    w.created();
    Ok(())
}

pub(crate) fn path_filestat_get(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let (fd, lookup) = (a.u32(0), flags(a.u32(1), LOOKUP_FOLLOW, "lookupflags")?);
    dir_of(g.wasi()?, fd)?;
    let path = g.string(a.u32(2), a.u32(3))?;
    let w = g.wasi()?;
    let d = dir_of(w, fd)?;
    // A trailing slash asks for a directory, so the last component is resolved as POSIX says
    // (a symbolic link followed, a non-directory `ENOTDIR`) whatever the lookup flags: cap-std
    // (and wasmtime-wasi's copy of it) stats a one-component path without following by its
    // name alone, and so answers `file/` with the file's metadata (docs/wasi.md, "Cage's WASI
    // and wasmtime-wasi").
    let meta = if lookup & LOOKUP_FOLLOW != 0 || path.ends_with('/') {
        d.dir.metadata(&path)?
    } else {
        d.dir.symlink_metadata(&path)?
    };
    let out = filestat(w, &meta)?;
    g.write_aligned(a.u32(4), &out, 8)
}

pub(crate) fn path_filestat_set_times(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let (fd, lookup) = (a.u32(0), flags(a.u32(1), LOOKUP_FOLLOW, "lookupflags")?);
    let (atim, mtim) = times(a, 4)?;
    dir_of(g.wasi()?, fd)?;
    let path = g.string(a.u32(2), a.u32(3))?;
    let w = g.wasi()?;
    let d = dir_of(w, fd)?;
    refuse_change(w, &[d])?;
    let spec = |t: Option<SystemTime>| {
        t.map(|t| SystemTimeSpec::Absolute(cap_std::time::SystemTime::from_std(t)))
    };
    if lookup & LOOKUP_FOLLOW != 0 {
        d.dir.set_times(&path, spec(atim), spec(mtim))?;
    } else {
        d.dir.set_symlink_times(&path, spec(atim), spec(mtim))?;
    }
    Ok(())
}

pub(crate) fn path_link(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let (from, lookup, to) = (
        a.u32(0),
        flags(a.u32(1), LOOKUP_FOLLOW, "lookupflags")?,
        a.u32(4),
    );
    dir_of(g.wasi()?, from)?;
    dir_of(g.wasi()?, to)?;
    let old = g.string(a.u32(2), a.u32(3))?;
    let new = g.string(a.u32(5), a.u32(6))?;
    let w = g.wasi()?;
    let (src, dst) = (dir_of(w, from)?, dir_of(w, to)?);
    refuse_change(w, &[src, dst])?;
    if lookup & LOOKUP_FOLLOW != 0 {
        return Err(Errno::Inval.into());
    }
    w.may_create()?;
    src.dir.hard_link(&old, &dst.dir, &new)?;
    w.created();
    Ok(())
}

pub(crate) fn path_open(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let fd = a.u32(0);
    let lookup = flags(a.u32(1), LOOKUP_FOLLOW, "lookupflags")?;
    let oflags = flags(a.u32(4), 0xf, "oflags")?;
    let base = rights_value(a.u64(5))?;
    rights_value(a.u64(6))?;
    let fdflags = flags(a.u32(7), 0x1f, "fdflags")?;
    let path = g.string(a.u32(2), a.u32(3))?;
    let w = g.wasi()?;
    let d = match w.fds.get(fd)? {
        Desc::Dir(d) => d,
        Desc::File(_) => return Err(Errno::Notdir.into()),
        _ => return Err(Errno::Badf.into()),
    };
    w.used.reached(d.root);
    // `EMFILE` at the sandbox's limit and `ENFILE` at the process's, before the host opens
    // anything.
    w.fds.room()?;
    let held = cage_core::budget::reserve(cage_core::budget::Cost::descriptors(1))
        .map_err(|_| Errno::Nfile)?;
    let desc = open_at(w, d, lookup, &path, oflags, base, fdflags, held)?;
    let new = w.fds.push(desc)?;
    g.put_u32(a.u32(8), new)
}

/// The flags every host open gets: never wait for a FIFO's other end or a device, never make a
/// terminal the process's controlling one.
#[cfg(unix)]
fn never_block() -> i32 {
    (rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY).bits() as i32
}

/// Whether `path` under `d` is something Cage does not open: anything but a regular file, a
/// directory or a symbolic link (a FIFO, a socket, a device).
fn is_special(d: &DirDesc, path: &str, follow: bool) -> bool {
    let meta = if follow {
        d.dir.metadata(path)
    } else {
        d.dir.symlink_metadata(path)
    };
    meta.is_ok_and(|m| {
        let t = m.file_type();
        !(t.is_file() || t.is_dir() || t.is_symlink())
    })
}

/// Opens `path` under `d` as Wasmtime's preview 1 does, with two rules of Cage's own:
///
/// - only regular files and directories open: a FIFO, a socket or a device answers `ENOTSUP`.
///   The host opens with `O_NONBLOCK`, so that not even the moment a FIFO is swapped in for a
///   file can make it wait for the other end; what opened is checked before it is kept.
/// - creating a file counts against `limits.max_files_created` (`EDQUOT` past it).
#[allow(clippy::too_many_arguments)]
fn open_at(
    w: &WasiCtx,
    d: &DirDesc,
    lookup: u32,
    path: &str,
    oflags: u32,
    base: u64,
    fdflags: u32,
    held: cage_core::budget::Reservation,
) -> Res<Desc> {
    let mut o = cap_std::fs::OpenOptions::new();
    let (mut read, mut write, mut create) = (false, false, false);
    if oflags & OFLAGS_CREAT != 0 {
        if oflags & OFLAGS_EXCL != 0 {
            o.create_new(true);
        } else {
            o.create(true);
        }
        create = true;
        write = true;
    }
    if oflags & OFLAGS_TRUNC != 0 {
        o.truncate(true);
        write = true;
    }
    if base & rights::FD_READ != 0 {
        read = true;
    }
    if base & rights::FD_WRITE != 0 {
        write = true;
    } else {
        // Opened for reading at least, so that the OS lets it open; writes are refused later.
        read = true;
    }
    o.read(read).write(write);
    o.follow(if lookup & LOOKUP_FOLLOW != 0 {
        FollowSymlinks::Yes
    } else {
        FollowSymlinks::No
    });
    if fdflags & (FDFLAGS_SYNC | FDFLAGS_DSYNC | FDFLAGS_RSYNC) != 0 {
        return Err(Errno::Notsup.into());
    }
    if oflags & OFLAGS_DIRECTORY != 0 && oflags & (OFLAGS_CREAT | OFLAGS_EXCL | OFLAGS_TRUNC) != 0 {
        return Err(Errno::Inval.into());
    }
    if create || write {
        refuse_change(w, &[d])?;
    }
    let follow = lookup & LOOKUP_FOLLOW != 0;
    // A file that does not exist yet is a creation: counted, and refused past the quota.
    let creating = create && {
        let exists = if follow {
            d.dir.metadata(path).is_ok()
        } else {
            d.dir.symlink_metadata(path).is_ok()
        };
        !exists
    };
    if creating {
        w.may_create()?;
    }
    #[cfg(unix)]
    cap_std::fs::OpenOptionsExt::custom_flags(&mut o, never_block());
    let file = match d.dir.open_with(path, &o) {
        Ok(f) => f.into_std(),
        Err(_) if is_special(d, path, follow) => return Err(Errno::Notsup.into()),
        Err(e) => return Err(e.into()),
    };
    if creating {
        w.created();
    }
    let meta = file.metadata()?;
    if !(meta.is_file() || meta.is_dir()) {
        return Err(Errno::Notsup.into());
    }
    if meta.is_dir() {
        return Ok(Desc::Dir(DirDesc {
            dir: cap_std::fs::Dir::from_std_file(file),
            _held: held,
            listing: None,
            preopen: None,
            read_only: d.read_only,
            read,
            root: d.root,
        }));
    }
    if oflags & OFLAGS_DIRECTORY != 0 {
        return Err(Errno::Notdir.into());
    }
    Ok(Desc::File(FileDesc {
        file,
        _held: held,
        position: 0,
        append: fdflags & FDFLAGS_APPEND != 0,
        nonblock: fdflags & FDFLAGS_NONBLOCK != 0,
        read_only: d.read_only,
        read,
        write,
        root: d.root,
    }))
}

pub(crate) fn path_readlink(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let fd = a.u32(0);
    dir_of(g.wasi()?, fd)?;
    let path = g.string(a.u32(1), a.u32(2))?;
    let d = dir_of(g.wasi()?, fd)?;
    let target = d
        .dir
        .read_link(&path)?
        .into_os_string()
        .into_string()
        .map_err(|_| Errno::Ilseq)?;
    let mut bytes = target.into_bytes();
    bytes.truncate(a.u32(4) as usize);
    g.write(a.u32(3), &bytes)?;
    g.put_u32(a.u32(5), bytes.len() as u32)
}

pub(crate) fn path_remove_directory(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let fd = a.u32(0);
    dir_of(g.wasi()?, fd)?;
    let path = g.string(a.u32(1), a.u32(2))?;
    let w = g.wasi()?;
    let d = dir_of(w, fd)?;
    refuse_change(w, &[d])?;
    d.dir.remove_dir(&path)?;
    Ok(())
}

pub(crate) fn path_rename(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let (from, to) = (a.u32(0), a.u32(3));
    dir_of(g.wasi()?, from)?;
    dir_of(g.wasi()?, to)?;
    let old = g.string(a.u32(1), a.u32(2))?;
    let new = g.string(a.u32(4), a.u32(5))?;
    let w = g.wasi()?;
    let (src, dst) = (dir_of(w, from)?, dir_of(w, to)?);
    refuse_change(w, &[src, dst])?;
    // A trailing slash on either path means both must be directories (`rename f y/` is
    // `ENOTDIR` for a file `f`, as under Wasmtime's preview 1). cap-std looks at the source's
    // slash only, so the destination's is carried over to the source.
    let old = if new.ends_with('/') && !old.ends_with('/') {
        format!("{old}/")
    } else {
        old
    };
    src.dir.rename(&old, &dst.dir, &new)?;
    Ok(())
}

pub(crate) fn path_symlink(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let fd = a.u32(2);
    dir_of(g.wasi()?, fd)?;
    let target = g.string(a.u32(0), a.u32(1))?;
    let link = g.string(a.u32(3), a.u32(4))?;
    let w = g.wasi()?;
    let d = dir_of(w, fd)?;
    refuse_change(w, &[d])?;
    w.may_create()?;
    DirExt::symlink(&d.dir, Path::new(&target), Path::new(&link))?;
    w.created();
    Ok(())
}

pub(crate) fn path_unlink_file(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let fd = a.u32(0);
    dir_of(g.wasi()?, fd)?;
    let path = g.string(a.u32(1), a.u32(2))?;
    let w = g.wasi()?;
    let d = dir_of(w, fd)?;
    refuse_change(w, &[d])?;
    d.dir.remove_file_or_symlink(&path)?;
    Ok(())
}

/// Converts a [`Fail`] into what the guest sees: an errno result, or a trap.
pub(crate) fn finish(r: Res<()>) -> Result<Vec<cage_core::Value>, HostError> {
    let errno = match r {
        Ok(()) => Errno::Success,
        Err(Fail::Errno(e)) => e,
        Err(Fail::Trap(t)) => return Err(t),
    };
    Ok(vec![cage_core::Value::I32(errno.raw())])
}
