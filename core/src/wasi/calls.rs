//! The WASI preview 1 functions, one Rust function each, written against [`Guest`].
//!
//! Guest-visible behaviour follows Wasmtime's `wasmtime-wasi` preview 1 (the reference): the
//! same descriptor numbering, the same errno for each failure, the same rights reported, reads
//! and writes that move the first non-empty buffer of an iovec table, `EPERM` for any change
//! under a read-only preopen. Where Cage decides differently it says so: directory entries are
//! listed in name order and inode numbers are small per-sandbox numbers (both so that a guest
//! observes exactly the same thing on every runtime, whatever the host's directory order and
//! inode numbers), and CPU-time clocks are `EINVAL`.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt, SystemTimeSpec};
use rand_core::Rng;

use super::ctx::{Desc, DirDesc, FileDesc, WasiCtx};
use super::errno::Errno;
use super::guest::{Args, Fail, Guest, Res};
use crate::host::HostError;

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

/// A flags argument with bits outside `valid` is `EINVAL` (as preview 1 decoders reject it).
fn flags(v: u32, valid: u32) -> Res<u32> {
    if v & !valid != 0 {
        return Err(Errno::Inval.into());
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
    g.wasi()?.used.clock.set(true);
    if g.wasi()?.now(a.u32(0)).is_none() {
        return Err(Errno::Inval.into());
    }
    g.put_u64(a.u32(1), 1)
}

pub(crate) fn clock_time_get(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    g.wasi()?.used.clock.set(true);
    let now = g.wasi()?.now(a.u32(0)).ok_or(Errno::Inval)?;
    g.put_u64(a.u32(2), now)
}

pub(crate) fn random_get(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    g.wasi()?.used.random.set(true);
    let (ptr, len) = (a.u32(0), a.u32(1));
    // Bounds first: a guest cannot make the host generate more than its memory holds.
    g.write(ptr, &[])?;
    if u64::from(ptr) + u64::from(len) > g.cx().memory_size() {
        return Err(HostError::MemoryOutOfBounds {
            offset: u64::from(ptr),
            len: u64::from(len),
        }
        .into());
    }
    let mut buf = vec![0u8; len as usize];
    match g.wasi()?.rng.as_mut() {
        Some(rng) => rng.fill_bytes(&mut buf),
        None => getrandom::fill(&mut buf)
            .map_err(|e| HostError::new(format!("the OS random generator failed: {e}")))?,
    }
    g.write(ptr, &buf)
}

pub(crate) fn sched_yield(_: &mut Guest<'_>, _: &Args<'_>) -> Res<()> {
    Ok(())
}

pub(crate) fn proc_raise(_: &mut Guest<'_>, _: &Args<'_>) -> Res<()> {
    Err(Errno::Notsup.into())
}

/// Every `sock_*` call: `EBADF` for a descriptor that does not exist, else `ENOTSOCK` (preview 1
/// cannot create sockets, and Cage grants none).
pub(crate) fn sock(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    g.wasi()?.fds.get(a.u32(0))?;
    Err(Errno::Notsock.into())
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
    let advice = a.u32(3);
    if advice > 5 {
        return Err(Errno::Inval.into());
    }
    // Advice is a hint; Cage validates it and takes none.
    g.wasi()?.fds.file(a.u32(0))?;
    Ok(())
}

pub(crate) fn fd_allocate(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    g.wasi()?.fds.file(a.u32(0))?;
    Err(Errno::Notsup.into())
}

pub(crate) fn fd_datasync(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    g.wasi()?.fds.file(a.u32(0))?.file.sync_data()?;
    Ok(())
}

pub(crate) fn fd_sync(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    g.wasi()?.fds.file(a.u32(0))?.file.sync_all()?;
    Ok(())
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
    let fl = flags(a.u32(1), 0x1f)?;
    let f = g.wasi()?.fds.file(a.u32(0))?;
    if fl & (FDFLAGS_DSYNC | FDFLAGS_SYNC | FDFLAGS_RSYNC) != 0 {
        return Err(Errno::Inval.into());
    }
    f.append = fl & FDFLAGS_APPEND != 0;
    f.nonblock = fl & FDFLAGS_NONBLOCK != 0;
    Ok(())
}

pub(crate) fn fd_fdstat_set_rights(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    match g.wasi()?.fds.get(a.u32(0))? {
        Desc::Dir(_) | Desc::File(_) => Err(Errno::Notsup.into()),
        _ => Err(Errno::Badf.into()),
    }
}

/// A `filestat` (64 bytes) for metadata `m`.
fn filestat(w: &mut WasiCtx, m: &cap_std::fs::Metadata) -> [u8; 64] {
    let (dev, ino, nlink) = identity(m);
    let ino = w.inode(dev, ino);
    let nanos = |t: std::io::Result<cap_std::time::SystemTime>| -> u64 {
        t.ok()
            .and_then(|t| t.into_std().duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    };
    let mut out = [0u8; 64];
    out[0..8].copy_from_slice(&1u64.to_le_bytes());
    out[8..16].copy_from_slice(&ino.to_le_bytes());
    out[16] = file_type(&m.file_type());
    out[24..32].copy_from_slice(&nlink.to_le_bytes());
    out[32..40].copy_from_slice(&m.len().to_le_bytes());
    out[40..48].copy_from_slice(&nanos(m.accessed()).to_le_bytes());
    out[48..56].copy_from_slice(&nanos(m.modified()).to_le_bytes());
    out[56..64].copy_from_slice(&nanos(m.created()).to_le_bytes());
    out
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
    let out = filestat(w, &meta);
    g.write_aligned(a.u32(1), &out, 8)
}

pub(crate) fn fd_filestat_set_size(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let w = g.wasi()?;
    let f = w.fds.file(a.u32(0))?;
    w.used.changed(f.root);
    if f.read_only {
        return Err(Errno::Perm.into());
    }
    f.file.set_len(a.u64(1))?;
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
    let fst = flags(a.u32(at + 2), 0xf)?;
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

/// Reads for `fd_read` and `fd_pread`: at most `len` bytes at `pos` (or the file's position).
fn read_file(f: &mut FileDesc, len: usize, at: Option<u64>) -> Res<Vec<u8>> {
    let pos = at.unwrap_or(f.position);
    let mut buf = vec![0u8; len];
    let n = read_at(&f.file, &mut buf, pos)?;
    buf.truncate(n);
    if at.is_none() {
        f.position = pos.checked_add(n as u64).ok_or(Errno::Overflow)?;
    }
    Ok(buf)
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

pub(crate) fn fd_read(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let (buf, len) = g.first_buffer(a.u32(1), a.u32(2))?;
    let w = g.wasi()?;
    let data = match w.fds.get_mut(a.u32(0))? {
        Desc::File(f) => read_file(f, len as usize, None)?,
        Desc::Stdin => w.read_stdin(len as usize)?,
        _ => return Err(Errno::Badf.into()),
    };
    g.write(buf, &data)?;
    g.put_u32(a.u32(3), data.len() as u32)
}

pub(crate) fn fd_pread(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let (buf, len) = g.first_buffer(a.u32(1), a.u32(2))?;
    let data = match g.wasi()?.fds.get_mut(a.u32(0))? {
        Desc::File(f) => read_file(f, len as usize, Some(a.u64(3)))?,
        Desc::Stdin => return Err(Errno::Spipe.into()),
        _ => return Err(Errno::Badf.into()),
    };
    g.write(buf, &data)?;
    g.put_u32(a.u32(4), data.len() as u32)
}

/// Writes for `fd_write` (`at = None`: at the position) and `fd_pwrite`.
fn write_common(g: &mut Guest<'_>, a: &Args<'_>, at: Option<u64>, result: u32) -> Res<()> {
    let (buf, len) = g.first_buffer(a.u32(1), a.u32(2))?;
    let fd = a.u32(0);
    // The descriptor is checked before the data is copied out of guest memory.
    match g.wasi()?.fds.get(fd)? {
        Desc::File(_) => {}
        Desc::Stdout | Desc::Stderr if at.is_some() => return Err(Errno::Spipe.into()),
        Desc::Stdout | Desc::Stderr => {}
        _ => return Err(Errno::Badf.into()),
    }
    let data = g.read(buf, len)?;
    let w = g.wasi()?;
    let n = match w.fds.get_mut(fd)? {
        Desc::File(f) => {
            let n = if f.append {
                let end = f.file.metadata()?.len();
                write_at(&f.file, &data, end)?
            } else {
                write_at(&f.file, &data, at.unwrap_or(f.position))?
            };
            if at.is_none() {
                f.position = if f.append {
                    f.file.metadata()?.len()
                } else {
                    f.position.checked_add(n as u64).ok_or(Errno::Overflow)?
                };
            }
            n
        }
        Desc::Stdout => w.write_stdio(false, &data)?,
        Desc::Stderr => w.write_stdio(true, &data)?,
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
    let (offset, whence) = (a.u64(1) as i64, a.u32(2));
    if whence > 2 {
        return Err(Errno::Inval.into());
    }
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

/// `fd_readdir(fd, buf, len, cookie, *used)`: `.`, `..`, then the entries in name order; the
/// cookie is the index of the next entry. The last entry is cut at the end of the buffer, as
/// preview 1 specifies (the guest then asks again from its cookie with a larger buffer).
pub(crate) fn fd_readdir(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let (buf, cap, cookie, used) = (a.u32(1), a.u32(2), a.u64(3), a.u32(4));
    let w = g.wasi()?;
    let dir = w.fds.dir(a.u32(0))?;
    w.used.reached(dir.root);
    let here = dir.dir.dir_metadata()?;
    let mut entries: Vec<(Vec<u8>, u8, (u64, u64))> = Vec::new();
    for e in dir.dir.entries()? {
        let e = e?;
        let meta = e.metadata()?;
        let name = e.file_name().into_string().map_err(|_| Errno::Ilseq)?;
        let (dev, ino, _) = identity(&meta);
        entries.push((name.into_bytes(), file_type(&meta.file_type()), (dev, ino)));
    }
    entries.sort_by(|x, y| x.0.cmp(&y.0));
    let (dev, ino, _) = identity(&here);
    let dot = w.inode(dev, ino);
    let mut all = vec![
        (b".".to_vec(), filetype::DIRECTORY, dot),
        (b"..".to_vec(), filetype::DIRECTORY, dot),
    ];
    for (name, ty, (dev, ino)) in entries {
        let ino = w.inode(dev, ino);
        all.push((name, ty, ino));
    }
    let mut out = Vec::new();
    let skip = usize::try_from(cookie).unwrap_or(usize::MAX);
    for (i, (name, ty, ino)) in all.into_iter().enumerate().skip(skip) {
        if out.len() >= cap as usize {
            break;
        }
        let mut head = [0u8; 24];
        head[0..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
        head[8..16].copy_from_slice(&ino.to_le_bytes());
        head[16..20].copy_from_slice(&(name.len() as u32).to_le_bytes());
        head[20] = ty;
        out.extend_from_slice(&head);
        out.extend_from_slice(&name);
    }
    out.truncate(cap as usize);
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
    d.dir.create_dir(&path)?;
    Ok(())
}

pub(crate) fn path_filestat_get(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let (fd, lookup) = (a.u32(0), flags(a.u32(1), LOOKUP_FOLLOW)?);
    dir_of(g.wasi()?, fd)?;
    let path = g.string(a.u32(2), a.u32(3))?;
    let w = g.wasi()?;
    let d = dir_of(w, fd)?;
    let meta = if lookup & LOOKUP_FOLLOW != 0 {
        d.dir.metadata(&path)?
    } else {
        d.dir.symlink_metadata(&path)?
    };
    let out = filestat(w, &meta);
    g.write_aligned(a.u32(4), &out, 8)
}

pub(crate) fn path_filestat_set_times(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let (fd, lookup) = (a.u32(0), flags(a.u32(1), LOOKUP_FOLLOW)?);
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
    let (from, lookup, to) = (a.u32(0), flags(a.u32(1), LOOKUP_FOLLOW)?, a.u32(4));
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
    src.dir.hard_link(&old, &dst.dir, &new)?;
    Ok(())
}

pub(crate) fn path_open(g: &mut Guest<'_>, a: &Args<'_>) -> Res<()> {
    let fd = a.u32(0);
    let lookup = flags(a.u32(1), LOOKUP_FOLLOW)?;
    let oflags = flags(a.u32(4), 0xf)?;
    let base = a.u64(5);
    if base & !rights::ALL != 0 || a.u64(6) & !rights::ALL != 0 {
        return Err(Errno::Inval.into());
    }
    let fdflags = flags(a.u32(7), 0x1f)?;
    let path = g.string(a.u32(2), a.u32(3))?;
    let w = g.wasi()?;
    let d = match w.fds.get(fd)? {
        Desc::Dir(d) => d,
        Desc::File(_) => return Err(Errno::Notdir.into()),
        _ => return Err(Errno::Badf.into()),
    };
    w.used.reached(d.root);
    let desc = open_at(w, d, lookup, &path, oflags, base, fdflags)?;
    let new = w.fds.push(desc)?;
    g.put_u32(a.u32(8), new)
}

/// Opens `path` under `d` as Wasmtime's preview 1 does.
fn open_at(
    w: &WasiCtx,
    d: &DirDesc,
    lookup: u32,
    path: &str,
    oflags: u32,
    base: u64,
    fdflags: u32,
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
    let file = d.dir.open_with(path, &o)?.into_std();
    if file.metadata()?.is_dir() {
        return Ok(Desc::Dir(DirDesc {
            dir: cap_std::fs::Dir::from_std_file(file),
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
    DirExt::symlink(&d.dir, Path::new(&target), Path::new(&link))?;
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
pub(crate) fn finish(r: Res<()>) -> Result<Vec<crate::value::Value>, HostError> {
    let errno = match r {
        Ok(()) => Errno::Success,
        Err(Fail::Errno(e)) => e,
        Err(Fail::Trap(t)) => return Err(t),
    };
    Ok(vec![crate::value::Value::I32(errno.raw())])
}
