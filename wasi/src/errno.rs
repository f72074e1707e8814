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
    /// The errno a guest sees for a host I/O error: every host error number that WASI preview 1
    /// also names keeps its name (`EMFILE` stays `EMFILE`, `ENFILE` stays `ENFILE`, …); only an
    /// error number WASI lacks falls back to the error's kind, and then to `EIO`.
    ///
    /// `wasmtime-wasi` 48.0.8 names 25 host errors and turns every other one into `EIO`
    /// (`EMFILE`, `ENFILE`, `EXDEV`, `EROFS`, `EAGAIN`, …); Cage keeps all of them. The aliases
    /// `EWOULDBLOCK` and `EOPNOTSUPP` (the same numbers as `EAGAIN` and `ENOTSUP` on Linux, not on
    /// every host) are mapped as well.
    fn from(e: &io::Error) -> Self {
        if let Some(errno) = e.raw_os_error().and_then(from_host) {
            return errno;
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

/// The WASI errno of the same name as the host's error number `raw`, if WASI has one.
fn from_host(raw: i32) -> Option<Errno> {
    use rustix::io::Errno as E;
    #[allow(
        unreachable_patterns,
        reason = "aliases share a number on some hosts only"
    )]
    let errno = match E::from_raw_os_error(raw) {
        E::TOOBIG => Errno::TooBig,
        E::ACCESS => Errno::Acces,
        E::ADDRINUSE => Errno::Addrinuse,
        E::ADDRNOTAVAIL => Errno::Addrnotavail,
        E::AFNOSUPPORT => Errno::Afnosupport,
        E::AGAIN => Errno::Again,
        E::ALREADY => Errno::Already,
        E::BADF => Errno::Badf,
        E::BADMSG => Errno::Badmsg,
        E::BUSY => Errno::Busy,
        E::CANCELED => Errno::Canceled,
        E::CHILD => Errno::Child,
        E::CONNABORTED => Errno::Connaborted,
        E::CONNREFUSED => Errno::Connrefused,
        E::CONNRESET => Errno::Connreset,
        E::DEADLK => Errno::Deadlk,
        E::DESTADDRREQ => Errno::Destaddrreq,
        E::DOM => Errno::Dom,
        E::DQUOT => Errno::Dquot,
        E::EXIST => Errno::Exist,
        E::FAULT => Errno::Fault,
        E::FBIG => Errno::Fbig,
        E::HOSTUNREACH => Errno::Hostunreach,
        E::IDRM => Errno::Idrm,
        E::ILSEQ => Errno::Ilseq,
        E::INPROGRESS => Errno::Inprogress,
        E::INTR => Errno::Intr,
        E::INVAL => Errno::Inval,
        E::IO => Errno::Io,
        E::ISCONN => Errno::Isconn,
        E::ISDIR => Errno::Isdir,
        E::LOOP => Errno::Loop,
        E::MFILE => Errno::Mfile,
        E::MLINK => Errno::Mlink,
        E::MSGSIZE => Errno::Msgsize,
        E::MULTIHOP => Errno::Multihop,
        E::NAMETOOLONG => Errno::Nametoolong,
        E::NETDOWN => Errno::Netdown,
        E::NETRESET => Errno::Netreset,
        E::NETUNREACH => Errno::Netunreach,
        E::NFILE => Errno::Nfile,
        E::NOBUFS => Errno::Nobufs,
        E::NODEV => Errno::Nodev,
        E::NOENT => Errno::Noent,
        E::NOEXEC => Errno::Noexec,
        E::NOLCK => Errno::Nolck,
        E::NOLINK => Errno::Nolink,
        E::NOMEM => Errno::Nomem,
        E::NOMSG => Errno::Nomsg,
        E::NOPROTOOPT => Errno::Noprotoopt,
        E::NOSPC => Errno::Nospc,
        E::NOSYS => Errno::Nosys,
        E::NOTCONN => Errno::Notconn,
        E::NOTDIR => Errno::Notdir,
        E::NOTEMPTY => Errno::Notempty,
        E::NOTRECOVERABLE => Errno::Notrecoverable,
        E::NOTSOCK => Errno::Notsock,
        E::NOTSUP => Errno::Notsup,
        E::NOTTY => Errno::Notty,
        E::NXIO => Errno::Nxio,
        E::OVERFLOW => Errno::Overflow,
        E::OWNERDEAD => Errno::Ownerdead,
        E::PERM => Errno::Perm,
        E::PIPE => Errno::Pipe,
        E::PROTO => Errno::Proto,
        E::PROTONOSUPPORT => Errno::Protonosupport,
        E::PROTOTYPE => Errno::Prototype,
        E::RANGE => Errno::Range,
        E::ROFS => Errno::Rofs,
        E::SPIPE => Errno::Spipe,
        E::SRCH => Errno::Srch,
        E::STALE => Errno::Stale,
        E::TIMEDOUT => Errno::Timedout,
        E::TXTBSY => Errno::Txtbsy,
        E::XDEV => Errno::Xdev,
        E::WOULDBLOCK => Errno::Again,
        E::OPNOTSUPP => Errno::Notsup,
        _ => return None,
    };
    Some(errno)
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
        use rustix::io::Errno as E;
        let host = |e: E| Errno::from(&io::Error::from_raw_os_error(e.raw_os_error()));
        // Every WASI preview 1 errno but `ESUCCESS` (0) and `ENOTCAPABLE` (76), in WASI's order,
        // next to the host error of the same name: each must reach the guest under its own name.
        let same_name = [
            (E::TOOBIG, 1),
            (E::ACCESS, 2),
            (E::ADDRINUSE, 3),
            (E::ADDRNOTAVAIL, 4),
            (E::AFNOSUPPORT, 5),
            (E::AGAIN, 6),
            (E::ALREADY, 7),
            (E::BADF, 8),
            (E::BADMSG, 9),
            (E::BUSY, 10),
            (E::CANCELED, 11),
            (E::CHILD, 12),
            (E::CONNABORTED, 13),
            (E::CONNREFUSED, 14),
            (E::CONNRESET, 15),
            (E::DEADLK, 16),
            (E::DESTADDRREQ, 17),
            (E::DOM, 18),
            (E::DQUOT, 19),
            (E::EXIST, 20),
            (E::FAULT, 21),
            (E::FBIG, 22),
            (E::HOSTUNREACH, 23),
            (E::IDRM, 24),
            (E::ILSEQ, 25),
            (E::INPROGRESS, 26),
            (E::INTR, 27),
            (E::INVAL, 28),
            (E::IO, 29),
            (E::ISCONN, 30),
            (E::ISDIR, 31),
            (E::LOOP, 32),
            (E::MFILE, 33),
            (E::MLINK, 34),
            (E::MSGSIZE, 35),
            (E::MULTIHOP, 36),
            (E::NAMETOOLONG, 37),
            (E::NETDOWN, 38),
            (E::NETRESET, 39),
            (E::NETUNREACH, 40),
            (E::NFILE, 41),
            (E::NOBUFS, 42),
            (E::NODEV, 43),
            (E::NOENT, 44),
            (E::NOEXEC, 45),
            (E::NOLCK, 46),
            (E::NOLINK, 47),
            (E::NOMEM, 48),
            (E::NOMSG, 49),
            (E::NOPROTOOPT, 50),
            (E::NOSPC, 51),
            (E::NOSYS, 52),
            (E::NOTCONN, 53),
            (E::NOTDIR, 54),
            (E::NOTEMPTY, 55),
            (E::NOTRECOVERABLE, 56),
            (E::NOTSOCK, 57),
            (E::NOTSUP, 58),
            (E::NOTTY, 59),
            (E::NXIO, 60),
            (E::OVERFLOW, 61),
            (E::OWNERDEAD, 62),
            (E::PERM, 63),
            (E::PIPE, 64),
            (E::PROTO, 65),
            (E::PROTONOSUPPORT, 66),
            (E::PROTOTYPE, 67),
            (E::RANGE, 68),
            (E::ROFS, 69),
            (E::SPIPE, 70),
            (E::SRCH, 71),
            (E::STALE, 72),
            (E::TIMEDOUT, 73),
            (E::TXTBSY, 74),
            (E::XDEV, 75),
        ];
        for (i, (e, wasi)) in same_name.into_iter().enumerate() {
            assert_eq!(wasi, i as i32 + 1, "the table follows WASI's numbering");
            assert_eq!(host(e).raw(), wasi, "host {e:?}");
        }
        // The two the audit found reaching the guest as EIO.
        assert_eq!(host(E::MFILE), Errno::Mfile);
        assert_eq!(host(E::NFILE), Errno::Nfile);
        assert_eq!(host(E::WOULDBLOCK), Errno::Again);
        assert_eq!(host(E::OPNOTSUPP), Errno::Notsup);
        // No error number: the kind decides, and an unknown kind is EIO.
        let e = io::Error::new(io::ErrorKind::NotFound, "x");
        assert_eq!(Errno::from(&e), Errno::Noent);
        assert_eq!(Errno::from(&io::Error::other("x")), Errno::Io);
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
