//! The state of one sandbox's WASI: arguments, environment, descriptors, stdio, clocks, random.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{IsTerminal, Write};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::errno::Errno;
use crate::errno::Fail;
use crate::{FROZEN_MONOTONIC_NS, FROZEN_REALTIME_NS};
use cage_core::HostError;
use cage_core::Output;
use cage_core::policy::{Clock, DirMode, Policy, Random};

/// What a descriptor refers to.
#[derive(Debug)]
pub(crate) enum Desc {
    /// The guest's stdin.
    Stdin,
    /// The guest's stdout.
    Stdout,
    /// The guest's stderr.
    Stderr,
    /// A directory: preopened or opened by `path_open`.
    Dir(DirDesc),
    /// A regular file (or anything else that is not a directory).
    File(FileDesc),
}

/// An open directory.
#[derive(Debug)]
pub(crate) struct DirDesc {
    pub(crate) dir: cap_std::fs::Dir,
    /// Its descriptor's share of the process budget, given back when it is closed.
    pub(crate) _held: cage_core::budget::Reservation,
    /// The sorted listing `fd_readdir` serves from, read from the host (and paid for) when the
    /// guest starts reading the directory from cookie 0.
    pub(crate) listing: Option<Vec<DirEntry>>,
    /// The guest path it was preopened at; `None` when opened by `path_open`.
    pub(crate) preopen: Option<String>,
    /// Opened under a read-only preopen: every change is refused (`EPERM`).
    pub(crate) read_only: bool,
    /// Opened for reading (`fd_readdir` needs it).
    pub(crate) read: bool,
    /// The preopen (index in `wasi.dirs`) it was reached through.
    pub(crate) root: usize,
}

/// An open file with Cage's own position (as Wasmtime's preview 1 keeps it).
#[derive(Debug)]
pub(crate) struct FileDesc {
    pub(crate) file: std::fs::File,
    /// Its descriptor's share of the process budget, given back when it is closed.
    pub(crate) _held: cage_core::budget::Reservation,
    pub(crate) position: u64,
    pub(crate) append: bool,
    pub(crate) nonblock: bool,
    pub(crate) read_only: bool,
    pub(crate) read: bool,
    pub(crate) write: bool,
    /// The preopen (index in `wasi.dirs`) it was opened under.
    pub(crate) root: usize,
}

/// Descriptor numbers: the lowest three are stdio, preopens follow in policy order, and a freed
/// number is reused highest first (Wasmtime's preview 1 allocation, so guests see the same
/// numbers everywhere).
/// At most `max` descriptors are open at once (`limits.max_open_files`): one more is `EMFILE`.
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) used: BTreeMap<u32, Desc>,
    pub(crate) free: BTreeSet<u32>,
    max: usize,
}

impl Table {
    fn new(max: u32) -> Self {
        Table {
            used: BTreeMap::new(),
            free: BTreeSet::new(),
            max: max as usize,
        }
    }

    /// Whether one more descriptor fits under `limits.max_open_files`; `EMFILE` when not.
    /// Checked before a descriptor's file is opened on the host.
    pub(crate) fn room(&self) -> Result<(), Errno> {
        if self.used.len() >= self.max {
            return Err(Errno::Mfile);
        }
        Ok(())
    }

    /// Adds a descriptor and returns its number.
    pub(crate) fn push(&mut self, d: Desc) -> Result<u32, Errno> {
        self.room()?;
        let fd = match self.free.pop_last() {
            Some(fd) => fd,
            None => match self.used.last_key_value() {
                Some((last, _)) => last.checked_add(1).ok_or(Errno::Mfile)?,
                None => 0,
            },
        };
        self.used.insert(fd, d);
        Ok(fd)
    }

    /// The descriptor `fd`, or `EBADF`.
    pub(crate) fn get(&self, fd: u32) -> Result<&Desc, Errno> {
        self.used.get(&fd).ok_or(Errno::Badf)
    }

    /// The descriptor `fd`, or `EBADF`.
    pub(crate) fn get_mut(&mut self, fd: u32) -> Result<&mut Desc, Errno> {
        self.used.get_mut(&fd).ok_or(Errno::Badf)
    }

    /// The open file `fd`, or `EBADF` for anything else.
    pub(crate) fn file(&mut self, fd: u32) -> Result<&mut FileDesc, Errno> {
        match self.used.get_mut(&fd) {
            Some(Desc::File(f)) => Ok(f),
            _ => Err(Errno::Badf),
        }
    }

    /// The open directory `fd`, or `EBADF` for anything else.
    pub(crate) fn dir(&self, fd: u32) -> Result<&DirDesc, Errno> {
        match self.used.get(&fd) {
            Some(Desc::Dir(d)) => Ok(d),
            _ => Err(Errno::Badf),
        }
    }

    /// Removes `fd`, freeing its number.
    pub(crate) fn remove(&mut self, fd: u32) -> Result<Desc, Errno> {
        let d = self.used.remove(&fd).ok_or(Errno::Badf)?;
        self.free.insert(fd);
        Ok(d)
    }
}

/// The `[[wasi.dirs]]` of a policy, opened once: every sandbox's preopens are duplicates of
/// these handles, so they are the directories that were checked when the runtime was made,
/// whatever happens to their paths afterwards. Each holds a descriptor, charged to the process
/// budget while it lives.
#[derive(Debug)]
pub struct Preopens {
    dirs: Vec<Preopen>,
}

#[derive(Debug)]
struct Preopen {
    dir: cap_std::fs::Dir,
    guest: String,
    mode: DirMode,
    _held: cage_core::budget::Reservation,
}

impl Preopens {
    /// Opens every `[[wasi.dirs]]` host directory of `policy`.
    ///
    /// # Errors
    /// A directory that cannot be opened (`host_failure: filesystem`); no descriptor left in
    /// the process budget (`rejected: limit_exceeded`).
    pub fn open(policy: &Policy) -> Result<Self, cage_core::Error> {
        let mut dirs = Vec::with_capacity(policy.wasi.dirs.len());
        for d in &policy.wasi.dirs {
            let held = cage_core::budget::reserve(cage_core::budget::Cost::descriptors(1))?;
            let dir = cap_std::fs::Dir::open_ambient_dir(&d.host, cap_std::ambient_authority())
                .map_err(|e| {
                    cage_core::Error::host_from(
                        cage_core::HostFailure::Filesystem,
                        format!("wasi.dirs: cannot open {}: {e}", d.host.display()),
                        e,
                    )
                })?;
            dirs.push(Preopen {
                dir,
                guest: d.guest.clone(),
                mode: d.mode,
                _held: held,
            });
        }
        Ok(Preopens { dirs })
    }

    /// No directories.
    pub fn none() -> Self {
        Preopens { dirs: Vec::new() }
    }

    /// Whether these were opened for `policy`'s `[[wasi.dirs]]` (same guest paths and modes,
    /// in order).
    fn matches(&self, policy: &Policy) -> bool {
        self.dirs.len() == policy.wasi.dirs.len()
            && self
                .dirs
                .iter()
                .zip(&policy.wasi.dirs)
                .all(|(o, d)| o.guest == d.guest && o.mode == d.mode)
    }
}

/// Where stdin comes from.
#[derive(Debug)]
enum Input {
    Bytes { data: Vec<u8>, pos: usize },
    Inherit,
}

/// The most a write to a pipe moves without blocking once the pipe is writable (POSIX
/// `PIPE_BUF`).
const PIPE_BUF: usize = 4096;

/// Waits until the host's stdio stream `fd` can be read (`write = false`) or written, at most
/// until `deadline` (then `timeout`). Without a deadline it does not wait here: the read or
/// write that follows blocks, as the policy (no `timeout`) asked.
fn wait_ready(
    fd: &impl std::os::fd::AsFd,
    write: bool,
    deadline: Option<Instant>,
) -> Result<(), Fail> {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let Some(deadline) = deadline else {
        return Ok(());
    };
    let flags = if write { PollFlags::OUT } else { PollFlags::IN };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Fail::Trap(HostError::Timeout));
        }
        let timeout = Timespec {
            tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(fd, flags)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => return Err(Fail::Trap(HostError::Timeout)),
            // Ready, or an error or hang-up the read or write will report.
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(Fail::Errno(Errno::from(&std::io::Error::from(e)))),
        }
    }
}

/// Where stdout or stderr goes: a bounded buffer or the host's stream.
#[derive(Debug)]
enum Sink {
    Captured { buf: Vec<u8>, limit: usize },
    Inherit { stderr: bool },
}

impl Sink {
    /// Writes `data` to a captured stream: what fits under its limit is kept (a short write);
    /// once the stream is full a write fails with `EIO` (so host memory stays bounded).
    fn write(&mut self, data: &[u8]) -> Result<usize, Errno> {
        match self {
            Sink::Captured { buf, limit } => {
                let room = limit.saturating_sub(buf.len());
                if room == 0 && !data.is_empty() {
                    return Err(Errno::Io);
                }
                let n = data.len().min(room);
                buf.extend_from_slice(&data[..n]);
                Ok(n)
            }
            Sink::Inherit { .. } => Err(Errno::Io),
        }
    }

    fn is_terminal(&self) -> bool {
        match self {
            Sink::Captured { .. } => false,
            Sink::Inherit { stderr: true } => std::io::stderr().is_terminal(),
            Sink::Inherit { stderr: false } => std::io::stdout().is_terminal(),
        }
    }

    fn take(&mut self) -> Vec<u8> {
        match self {
            Sink::Captured { buf, .. } => std::mem::take(buf),
            Sink::Inherit { .. } => Vec::new(),
        }
    }
}

/// One sandbox's WASI state. Core puts one in the host state of every sandbox of a module that
/// imports WASI, where Cage's WASI functions find it.
#[derive(Debug)]
pub struct WasiCtx {
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) fds: Table,
    stdin: Input,
    stdout: Sink,
    stderr: Sink,
    limit: usize,
    pub(crate) clock: Clock,
    pub(crate) rng: Option<ChaCha20Rng>,
    origin: Instant,
    /// Host (device, inode) pairs mapped to the small inode numbers the guest sees, assigned in
    /// the order the guest first observes them.
    inodes: HashMap<(u64, u64), u64>,
    pub(crate) costs: cage_core::cost::WasiCosts,
    /// What the guest used, for [`WasiCtx::usage`].
    pub(crate) used: Used,
    /// `limits.max_io_per_call`, in bytes.
    pub(crate) max_io: u64,
    /// What the guest may still add to files under its read-write preopens
    /// (`limits.max_disk_write` less what it added).
    pub(crate) disk_left: u64,
    /// Files, directories and links the guest may still create (`limits.max_files_created`
    /// less what it created). A cell: path operations find out they create while they hold the
    /// descriptor they resolve through.
    creations_left: Cell<u64>,
    /// The guest changed a file since its last `fd_sync`/`fd_datasync`.
    pub(crate) unsynced: bool,
}

/// What a guest used so far. Cells, because path operations hold the descriptor they resolve
/// through (a shared borrow of the context) when they find out they change something.
#[derive(Debug, Default)]
pub(crate) struct Used {
    /// Per preopen: (guest path, reached, changed or tried to).
    dirs: Vec<(String, Cell<bool>, Cell<bool>)>,
    pub(crate) args: Cell<bool>,
    pub(crate) environ: Cell<bool>,
    pub(crate) clock: Cell<bool>,
    pub(crate) random: Cell<bool>,
    stdin_bytes: Cell<u64>,
}

impl Used {
    /// Something under preopen `root` was reached.
    pub(crate) fn reached(&self, root: usize) {
        if let Some((_, r, _)) = self.dirs.get(root) {
            r.set(true);
        }
    }

    /// Something under preopen `root` was changed, or a change was tried (and refused under a
    /// read-only preopen).
    pub(crate) fn changed(&self, root: usize) {
        if let Some((_, r, c)) = self.dirs.get(root) {
            r.set(true);
            c.set(true);
        }
    }
}

impl WasiCtx {
    /// Fresh state for one sandbox under `policy`: its args and env, stdin bytes, bounded
    /// stdout/stderr (or the host's, with `inherit_stdio`), and every `[[wasi.dirs]]` opened.
    ///
    /// # Errors
    /// A directory that cannot be opened (`host_failure: filesystem`; fail closed: never a
    /// sandbox without its preopen); no descriptor left in the process budget for a preopen
    /// (`rejected: limit_exceeded`).
    pub fn new(policy: &Policy) -> Result<Self, cage_core::Error> {
        Self::with_preopens(policy, &Preopens::open(policy)?)
    }

    /// Fresh state for one sandbox under `policy`, its preopens duplicated from `preopens`
    /// (opened once, when the runtime's WASI was set up, from the same policy: a guest that
    /// renames or replaces a granted directory's path cannot redirect the next sandbox's).
    ///
    /// # Errors
    /// As [`WasiCtx::new`]; `preopens` made from another policy's `[[wasi.dirs]]`.
    pub fn with_preopens(policy: &Policy, preopens: &Preopens) -> Result<Self, cage_core::Error> {
        let fs = |e: std::io::Error| {
            cage_core::Error::host_from(cage_core::HostFailure::Filesystem, e.to_string(), e)
        };
        let w = &policy.wasi;
        let limit = usize::try_from(policy.limits.max_output.bytes()).unwrap_or(usize::MAX);
        let mut fds = Table::new(policy.limits.max_open_files);
        let (stdin, stdout, stderr) = if w.inherit_stdio {
            (
                Input::Inherit,
                Sink::Inherit { stderr: false },
                Sink::Inherit { stderr: true },
            )
        } else {
            (
                Input::Bytes {
                    data: w.stdin.clone().unwrap_or_default(),
                    pos: 0,
                },
                Sink::Captured {
                    buf: Vec::new(),
                    limit,
                },
                Sink::Captured {
                    buf: Vec::new(),
                    limit,
                },
            )
        };
        for d in [Desc::Stdin, Desc::Stdout, Desc::Stderr] {
            fds.push(d)
                .map_err(|_| fs(std::io::Error::other("descriptor table full")))?;
        }
        if !preopens.matches(policy) {
            return Err(cage_core::Error::Policy(cage_core::PolicyError::Invalid(
                "the WASI preopens were opened for another policy's wasi.dirs".into(),
            )));
        }
        for (root, (d, opened)) in w.dirs.iter().zip(&preopens.dirs).enumerate() {
            // Every preopen holds a host descriptor for the sandbox's life.
            let held = cage_core::budget::reserve(cage_core::budget::Cost::descriptors(1))?;
            let dir = opened.dir.try_clone().map_err(|e| {
                fs(std::io::Error::new(
                    e.kind(),
                    format!("wasi.dirs: cannot duplicate {}: {e}", d.host.display()),
                ))
            })?;
            fds.push(Desc::Dir(DirDesc {
                dir,
                _held: held,
                listing: None,
                preopen: Some(d.guest.clone()),
                read_only: d.mode == DirMode::Ro,
                read: true,
                root,
            }))
            .map_err(|_| fs(std::io::Error::other("descriptor table full")))?;
        }
        Ok(WasiCtx {
            args: w.args.clone(),
            env: w.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            fds,
            stdin,
            stdout,
            stderr,
            limit,
            clock: w.clock,
            rng: match w.random {
                Random::Os => None,
                Random::Seeded { seed } => Some(ChaCha20Rng::seed_from_u64(seed)),
                // A source added to the policy later: this provider does not know it, so it
                // takes the host's (never a guessable one).
                _ => None,
            },
            origin: Instant::now(),
            inodes: HashMap::new(),
            costs: policy.costs.wasi,
            used: Used {
                dirs: w
                    .dirs
                    .iter()
                    .map(|d| (d.guest.clone(), Cell::new(false), Cell::new(false)))
                    .collect(),
                ..Used::default()
            },
            max_io: policy.limits.max_io_per_call.bytes(),
            disk_left: policy.limits.max_disk_write.bytes(),
            creations_left: Cell::new(u64::from(policy.limits.max_files_created)),
            unsynced: false,
        })
    }

    /// Whether one more file, directory or link may be created (`limits.max_files_created`):
    /// `EDQUOT` when not. Checked before the host creates anything.
    pub(crate) fn may_create(&self) -> Result<(), Errno> {
        if self.creations_left.get() == 0 {
            return Err(Errno::Dquot);
        }
        Ok(())
    }

    /// Counts one creation.
    pub(crate) fn created(&self) {
        self.creations_left
            .set(self.creations_left.get().saturating_sub(1));
    }

    /// Takes the captured output so far: at most `limits.max_output` of both streams together.
    pub fn take_output(&mut self) -> Output {
        Output::capped(self.stdout.take(), self.stderr.take(), self.limit)
    }

    /// Nanoseconds on clock `id` (0 realtime, 1 monotonic), or `None` for clocks Cage does not
    /// offer (the CPU-time clocks).
    pub(crate) fn now(&self, id: u32) -> Option<u64> {
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

    /// The inode number the guest sees for host file `(dev, ino)`.
    pub(crate) fn inode(&mut self, dev: u64, ino: u64) -> u64 {
        let next = self.inodes.len() as u64 + 1;
        *self.inodes.entry((dev, ino)).or_insert(next)
    }

    /// What the guest used so far of what its policy grants.
    pub fn usage(&self) -> WasiUsage {
        let u = &self.used;
        WasiUsage {
            dirs: u
                .dirs
                .iter()
                .map(|(guest, reached, changed)| DirUsage {
                    guest: guest.clone(),
                    reached: reached.get(),
                    changed: changed.get(),
                })
                .collect(),
            args: u.args.get(),
            environ: u.environ.get(),
            clock: u.clock.get(),
            random: u.random.get(),
            stdin_bytes: u.stdin_bytes.get(),
        }
    }

    /// How many bytes one read of stdin may ask for: what is left of the policy's stdin, or
    /// a chunk of the host's.
    pub(crate) fn stdin_ready(&self) -> u64 {
        match &self.stdin {
            Input::Bytes { data, pos } => data.len().saturating_sub(*pos) as u64,
            Input::Inherit => crate::errno::CHUNK as u64,
        }
    }

    /// Reads stdin into `buf`, returning how much it read (0 at end of file). The host's stdin
    /// (`inherit_stdio`) is waited on at most until `deadline`, then the guest traps `timeout`.
    pub(crate) fn read_stdin(
        &mut self,
        buf: &mut [u8],
        deadline: Option<Instant>,
    ) -> Result<usize, Fail> {
        match &mut self.stdin {
            Input::Bytes { data, pos } => {
                let end = data.len().min(pos.saturating_add(buf.len()));
                let n = end - *pos;
                buf[..n].copy_from_slice(&data[*pos..end]);
                *pos = end;
                self.used
                    .stdin_bytes
                    .set(self.used.stdin_bytes.get() + n as u64);
                Ok(n)
            }
            Input::Inherit => {
                let stdin = std::io::stdin();
                wait_ready(&stdin, false, deadline)?;
                // Straight from the descriptor, not through the standard library's buffer: what
                // the poll saw is what the read gets, and nothing waits in a buffer the poll
                // cannot see.
                let n = rustix::io::read(&stdin, buf)
                    .map_err(|e| Fail::Errno(Errno::from(&std::io::Error::from(e))))?;
                self.used
                    .stdin_bytes
                    .set(self.used.stdin_bytes.get() + n as u64);
                Ok(n)
            }
        }
    }

    /// How many bytes one write to stdout (`err = false`) or stderr may move: all of it when
    /// captured; at most `PIPE_BUF` (4 096) to the host's streams, which a write then never
    /// blocks on once the stream is ready.
    pub(crate) fn stdio_piece(&self, err: bool) -> u64 {
        match if err { &self.stderr } else { &self.stdout } {
            Sink::Captured { .. } => u64::MAX,
            Sink::Inherit { .. } => PIPE_BUF as u64,
        }
    }

    /// Writes to stdout (`err = false`) or stderr, returning how much was written. The host's
    /// streams are waited on at most until `deadline`, then the guest traps `timeout`.
    pub(crate) fn write_stdio(
        &mut self,
        err: bool,
        data: &[u8],
        deadline: Option<Instant>,
    ) -> Result<usize, Fail> {
        let sink = if err {
            &mut self.stderr
        } else {
            &mut self.stdout
        };
        match sink {
            Sink::Captured { .. } => Ok(sink.write(data)?),
            Sink::Inherit { stderr } => {
                let data = &data[..data.len().min(PIPE_BUF)];
                let r = if *stderr {
                    let out = std::io::stderr();
                    wait_ready(&out, true, deadline)?;
                    out.lock().write(data)
                } else {
                    let out = std::io::stdout();
                    wait_ready(&out, true, deadline)?;
                    let mut out = out.lock();
                    out.write(data).and_then(|n| out.flush().map(|()| n))
                };
                Ok(r?)
            }
        }
    }

    /// Whether the stdio descriptor `d` is a terminal.
    pub(crate) fn is_terminal(&self, d: &Desc) -> bool {
        match d {
            Desc::Stdin => matches!(self.stdin, Input::Inherit) && std::io::stdin().is_terminal(),
            Desc::Stdout => self.stdout.is_terminal(),
            Desc::Stderr => self.stderr.is_terminal(),
            _ => false,
        }
    }
}

/// What a WASI guest used of what its policy grants, observed while it ran: the evidence
/// `cage profile` narrows a policy with.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct WasiUsage {
    /// Per `[[wasi.dirs]]` entry, in policy order.
    pub dirs: Vec<DirUsage>,
    /// Whether the guest read its arguments (`args_get`/`args_sizes_get`).
    pub args: bool,
    /// Whether the guest read its environment. Preview 1 hands over the whole environment at
    /// once, so which variables it then looked at is not observable.
    pub environ: bool,
    /// Whether the guest read a clock.
    pub clock: bool,
    /// Whether the guest asked for random bytes.
    pub random: bool,
    /// Bytes the guest read from stdin.
    pub stdin_bytes: u64,
}

/// What a guest did under one preopened directory.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DirUsage {
    /// The guest path it is preopened at.
    pub guest: String,
    /// Whether the guest reached anything under it (a path operation, `fd_readdir`); start-up
    /// enumeration of preopens does not count.
    pub reached: bool,
    /// Whether the guest changed anything under it, or tried to (a refused change under a
    /// read-only preopen counts: the guest needed write access).
    pub changed: bool,
}

/// One entry of a directory listing as `fd_readdir` serves it.
#[derive(Debug)]
pub(crate) struct DirEntry {
    pub(crate) name: Vec<u8>,
    pub(crate) ty: u8,
    /// The inode number the guest sees.
    pub(crate) ino: u64,
}
