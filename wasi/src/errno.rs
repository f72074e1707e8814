//! WASI preview 1 `errno` values and the mapping from host I/O errors.

use std::io;

/// A WASI preview 1 error number (`errno`), as the guest sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
#[allow(missing_docs)]
#[non_exhaustive]
pub enum Errno {
    Success = 0,
    TooBig = 1,
    Acces = 2,
    Addrinuse = 3,
    Addrnotavail = 4,
    Afnosupport = 5,
    Again = 6,
    Already = 7,
    Badf = 8,
    Badmsg = 9,
    Busy = 10,
    Canceled = 11,
    Child = 12,
    Connaborted = 13,
    Connrefused = 14,
    Connreset = 15,
    Deadlk = 16,
    Destaddrreq = 17,
    Dom = 18,
    Dquot = 19,
    Exist = 20,
    Fault = 21,
    Fbig = 22,
    Hostunreach = 23,
    Idrm = 24,
    Ilseq = 25,
    Inprogress = 26,
    Intr = 27,
    Inval = 28,
    Io = 29,
    Isconn = 30,
    Isdir = 31,
    Loop = 32,
    Mfile = 33,
    Mlink = 34,
    Msgsize = 35,
    Multihop = 36,
    Nametoolong = 37,
    Netdown = 38,
    Netreset = 39,
    Netunreach = 40,
    Nfile = 41,
    Nobufs = 42,
    Nodev = 43,
    Noent = 44,
    Noexec = 45,
    Nolck = 46,
    Nolink = 47,
    Nomem = 48,
    Nomsg = 49,
    Noprotoopt = 50,
    Nospc = 51,
    Nosys = 52,
    Notconn = 53,
    Notdir = 54,
    Notempty = 55,
    Notrecoverable = 56,
    Notsock = 57,
    Notsup = 58,
    Notty = 59,
    Nxio = 60,
    Overflow = 61,
    Ownerdead = 62,
    Perm = 63,
    Pipe = 64,
    Proto = 65,
    Protonosupport = 66,
    Prototype = 67,
    Range = 68,
    Rofs = 69,
    Spipe = 70,
    Srch = 71,
    Stale = 72,
    Timedout = 73,
    Txtbsy = 74,
    Xdev = 75,
    Notcapable = 76,
}

impl Errno {
    /// The number the guest receives.
    pub fn raw(self) -> i32 {
        self as u16 as i32
    }
}

impl From<&io::Error> for Errno {
    /// The errno a guest sees for a host I/O error: the OS error number translated to WASI's
    /// numbering where there is one, else by the error's kind.
    fn from(e: &io::Error) -> Self {
        use rustix::io::Errno as E;
        if let Some(raw) = e.raw_os_error() {
            let mapped = match E::from_raw_os_error(raw) {
                E::PIPE => Some(Errno::Pipe),
                E::PERM => Some(Errno::Perm),
                E::NOENT => Some(Errno::Noent),
                E::NOMEM => Some(Errno::Nomem),
                E::IO => Some(Errno::Io),
                E::BADF => Some(Errno::Badf),
                E::BUSY => Some(Errno::Busy),
                E::ACCESS => Some(Errno::Acces),
                E::NOTDIR => Some(Errno::Notdir),
                E::ISDIR => Some(Errno::Isdir),
                E::INVAL => Some(Errno::Inval),
                E::EXIST => Some(Errno::Exist),
                E::FBIG => Some(Errno::Fbig),
                E::NOSPC => Some(Errno::Nospc),
                E::SPIPE => Some(Errno::Spipe),
                E::MLINK => Some(Errno::Mlink),
                E::NAMETOOLONG => Some(Errno::Nametoolong),
                E::NOTEMPTY => Some(Errno::Notempty),
                E::LOOP => Some(Errno::Loop),
                E::OVERFLOW => Some(Errno::Overflow),
                E::ILSEQ => Some(Errno::Ilseq),
                E::NOTSUP => Some(Errno::Notsup),
                E::ALREADY => Some(Errno::Already),
                E::INPROGRESS => Some(Errno::Inprogress),
                E::INTR => Some(Errno::Intr),
                E::XDEV => Some(Errno::Xdev),
                E::ROFS => Some(Errno::Rofs),
                E::TXTBSY => Some(Errno::Txtbsy),
                E::DQUOT => Some(Errno::Dquot),
                E::AGAIN => Some(Errno::Again),
                _ => None,
            };
            if let Some(m) = mapped {
                return m;
            }
        }
        match e.kind() {
            io::ErrorKind::NotFound => Errno::Noent,
            io::ErrorKind::PermissionDenied => Errno::Perm,
            io::ErrorKind::AlreadyExists => Errno::Exist,
            io::ErrorKind::InvalidInput => Errno::Inval,
            _ => Errno::Io,
        }
    }
}

impl From<io::Error> for Errno {
    fn from(e: io::Error) -> Self {
        Errno::from(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_preview1() {
        assert_eq!(Errno::Badf.raw(), 8);
        assert_eq!(Errno::Inval.raw(), 28);
        assert_eq!(Errno::Notcapable.raw(), 76);
        assert_eq!(Errno::Perm.raw(), 63);
    }

    #[test]
    fn os_errors_map() {
        let e = io::Error::from_raw_os_error(rustix::io::Errno::NOTEMPTY.raw_os_error());
        assert_eq!(Errno::from(&e), Errno::Notempty);
        let e = io::Error::new(io::ErrorKind::NotFound, "x");
        assert_eq!(Errno::from(&e), Errno::Noent);
    }
}

/// The largest host buffer a bulk copy uses.
pub(crate) const CHUNK: usize = 64 << 10;

/// Why a WASI function did not succeed: an errno for the guest, or a trap.
#[derive(Debug)]
pub(crate) enum Fail {
    Errno(Errno),
    Trap(cage_core::HostError),
}

impl From<Errno> for Fail {
    fn from(e: Errno) -> Self {
        Fail::Errno(e)
    }
}

impl From<cage_core::HostError> for Fail {
    fn from(e: cage_core::HostError) -> Self {
        Fail::Trap(e)
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Self {
        Fail::Errno(Errno::from(&e))
    }
}
