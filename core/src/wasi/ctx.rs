//! The state of one sandbox's WASI: arguments, environment, descriptors, stdio, clocks, random.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{IsTerminal, Read, Write};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::errno::Errno;
use super::{FROZEN_MONOTONIC_NS, FROZEN_REALTIME_NS};
use crate::policy::{Clock, DirMode, Policy, Random};
use crate::records::Output;

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
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub(crate) used: BTreeMap<u32, Desc>,
    pub(crate) free: BTreeSet<u32>,
}

impl Table {
    /// Adds a descriptor and returns its number.
    pub(crate) fn push(&mut self, d: Desc) -> Result<u32, Errno> {
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

/// Where stdin comes from.
#[derive(Debug)]
enum Input {
    Bytes { data: Vec<u8>, pos: usize },
    Inherit,
}

/// Where stdout or stderr goes: a bounded buffer or the host's stream.
#[derive(Debug)]
enum Sink {
    Captured { buf: Vec<u8>, limit: usize },
    Inherit { stderr: bool },
}

impl Sink {
    /// Writes `data`. A captured stream keeps what fits under its limit and then fails with
    /// `EIO` (so host memory stays bounded), as Wasmtime's memory pipes do.
    fn write(&mut self, data: &[u8]) -> Result<usize, Errno> {
        match self {
            Sink::Captured { buf, limit } => {
                let room = limit.saturating_sub(buf.len());
                if data.len() > room {
                    buf.extend_from_slice(&data[..room]);
                    return Err(Errno::Io);
                }
                buf.extend_from_slice(data);
                Ok(data.len())
            }
            Sink::Inherit { stderr } => {
                let r = if *stderr {
                    std::io::stderr().write_all(data)
                } else {
                    std::io::stdout().write_all(data)
                };
                r.map(|()| data.len()).map_err(|e| Errno::from(&e))
            }
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
    pub(crate) costs: crate::cost::WasiCosts,
    /// What the guest used, for [`WasiCtx::usage`].
    pub(crate) used: Used,
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
    /// A directory that cannot be opened (fail closed: never a sandbox without its preopen).
    pub fn new(policy: &Policy) -> std::io::Result<Self> {
        let w = &policy.wasi;
        let limit = usize::try_from(policy.limits.max_output.bytes()).unwrap_or(usize::MAX);
        let mut fds = Table::default();
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
                .map_err(|_| std::io::Error::other("descriptor table full"))?;
        }
        for (root, d) in w.dirs.iter().enumerate() {
            let dir = cap_std::fs::Dir::open_ambient_dir(&d.host, cap_std::ambient_authority())
                .map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!("wasi.dirs: cannot open {}: {e}", d.host.display()),
                    )
                })?;
            fds.push(Desc::Dir(DirDesc {
                dir,
                preopen: Some(d.guest.clone()),
                read_only: d.mode == DirMode::Ro,
                read: true,
                root,
            }))
            .map_err(|_| std::io::Error::other("descriptor table full"))?;
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
        })
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

    /// Reads up to `len` bytes of stdin.
    pub(crate) fn read_stdin(&mut self, len: usize) -> Result<Vec<u8>, Errno> {
        match &mut self.stdin {
            Input::Bytes { data, pos } => {
                let end = data.len().min(pos.saturating_add(len));
                let out = data[*pos..end].to_vec();
                *pos = end;
                self.used
                    .stdin_bytes
                    .set(self.used.stdin_bytes.get() + out.len() as u64);
                Ok(out)
            }
            Input::Inherit => {
                let mut buf = vec![0; len];
                let n = std::io::stdin()
                    .read(&mut buf)
                    .map_err(|e| Errno::from(&e))?;
                buf.truncate(n);
                Ok(buf)
            }
        }
    }

    /// Writes to stdout (`err = false`) or stderr.
    pub(crate) fn write_stdio(&mut self, err: bool, data: &[u8]) -> Result<usize, Errno> {
        if err {
            self.stderr.write(data)
        } else {
            self.stdout.write(data)
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
