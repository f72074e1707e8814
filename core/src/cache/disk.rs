//! Cache entries on disk: an owner-only directory, atomic writes, HMAC-authenticated entries.
//!
//! An entry is one file named by its [`CacheKey`] in hex:
//!
//! | bytes | what |
//! |---|---|
//! | 8 | magic `CAGE\0MOD` |
//! | 4 | [`FORMAT_VERSION`], little-endian |
//! | 32 | the [`CacheKey`] it was written under |
//! | 8 | payload length, little-endian |
//! | n | payload: the backend's serialized code |
//! | 32 | HMAC-SHA256 of everything before, under the [`HmacKey`] |
//!
//! Reading takes the whole file into memory and checks, in order: size, magic, format, key,
//! length, HMAC (in constant time). Only then does the payload leave this module, as a
//! [`VerifiedCode`]; nothing is verified on disk and then mapped, so a file swapped after the
//! check cannot be what runs.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{CacheKey, FORMAT_VERSION, VerifiedCode};
use crate::error::Error;
use crate::outcome::HostFailure;

const MAGIC: &[u8; 8] = b"CAGE\0MOD";
const HEADER: usize = 8 + 4 + 32 + 8;
const MAC: usize = 32;
/// Largest entry read back (compiled code of a 256 MiB module is far below).
const MAX_ENTRY_BYTES: u64 = 2 << 30;

/// The secret that authenticates cache entries. It must not live in the cache directory:
/// whoever can write an entry and knows the key can make the host run their code.
#[derive(Clone)]
pub struct HmacKey([u8; 32]);

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(..)")
    }
}

fn fs_error(what: String, e: std::io::Error) -> Error {
    Error::host_from(HostFailure::Filesystem, format!("{what}: {e}"), e)
}

impl HmacKey {
    /// A key of these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        HmacKey(bytes)
    }

    /// A fresh random key (for a cache that lives as long as the process, or to store).
    ///
    /// # Errors
    /// The system's random source failed.
    pub fn generate() -> Result<Self, Error> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(|e| {
            Error::host(
                HostFailure::Resources,
                format!("no randomness for a cache key: {e}"),
            )
        })?;
        Ok(HmacKey(k))
    }

    /// The key stored in `path` (32 bytes), or a new random one written there, readable by
    /// its owner only, when the file does not exist.
    ///
    /// # Errors
    /// A file of another size, one that other users can read or write (unix), or an I/O
    /// failure.
    pub fn load_or_create(path: &Path) -> Result<Self, Error> {
        match fs::read(path) {
            Ok(bytes) => {
                owner_only(path, false)?;
                let k: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    Error::host(
                        HostFailure::Filesystem,
                        format!(
                            "cache key {} has {} bytes, not 32",
                            path.display(),
                            bytes.len()
                        ),
                    )
                })?;
                Ok(HmacKey(k))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    create_private_dir(parent)?;
                }
                let key = HmacKey::generate()?;
                let mut options = fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut f = options
                    .open(path)
                    .map_err(|e| fs_error(format!("cannot create {}", path.display()), e))?;
                f.write_all(&key.0)
                    .and_then(|()| f.sync_all())
                    .map_err(|e| fs_error(format!("cannot write {}", path.display()), e))?;
                Ok(key)
            }
            Err(e) => Err(fs_error(format!("cannot read {}", path.display()), e)),
        }
    }

    #[cfg(test)]
    pub(crate) fn mac_for_tests(&self) -> Hmac<Sha256> {
        self.mac()
    }

    #[cfg(test)]
    pub(crate) fn bytes_for_tests(&self) -> [u8; 32] {
        self.0
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length: this cannot fail.
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC accepts any key length")
    }
}

fn create_private_dir(dir: &Path) -> Result<(), Error> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .map_err(|e| fs_error(format!("cannot create {}", dir.display()), e))
}

/// Fails unless `path` is owned by this user and neither group nor others may access it (for a
/// directory: also that it is a real directory, not a symbolic link).
fn owner_only(path: &Path, dir: bool) -> Result<(), Error> {
    let m = fs::symlink_metadata(path)
        .map_err(|e| fs_error(format!("cannot inspect {}", path.display()), e))?;
    let refuse = |why: &str| {
        Err(Error::host(
            HostFailure::Filesystem,
            format!("refusing {}: {why}", path.display()),
        ))
    };
    if dir && !m.is_dir() {
        return refuse("not a directory (symbolic links are not followed)");
    }
    if !dir && !m.is_file() {
        return refuse("not a regular file");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if m.uid() != rustix::process::geteuid().as_raw() {
            return refuse("owned by another user");
        }
        if m.mode() & 0o077 != 0 {
            return refuse(&format!(
                "other users have access (mode {:o}); make it owner-only (chmod {})",
                m.mode() & 0o777,
                if dir { "700" } else { "600" }
            ));
        }
    }
    Ok(())
}

/// A directory of compiled modules, authenticated with an [`HmacKey`] kept elsewhere.
///
/// Optionally bounded in size ([`DiskCache::with_max_bytes`]): after each write, the least
/// recently used entries are removed until the entries fit. "Used" is the entry's modification
/// time, which a lookup that finds the entry sets to now (access times are often not kept).
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
    key: HmacKey,
    max_bytes: Option<u64>,
}

/// What a cache directory holds: its entries and their size on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiskUsage {
    /// Entries (files named by a cache key; unfinished temporary files included).
    pub entries: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// Whether `name` is one of the cache's own files: an entry (its key in hex) or the
/// temporary file of an unfinished write. Nothing else in the directory is ever removed.
fn is_cache_file(name: &str) -> bool {
    (name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        || name.starts_with(".entry-")
}

/// What a disk lookup found.
pub(crate) enum Lookup {
    /// No entry.
    Absent,
    /// An authenticated entry.
    Found(VerifiedCode),
    /// An entry that failed a check: why.
    Rejected(String),
    /// The entry could not be read.
    Failed(String),
}

impl DiskCache {
    /// The cache in `dir`, created owner-only (mode 700) when missing, entries authenticated
    /// with `key`.
    ///
    /// # Errors
    /// `dir` cannot be created, is not a directory, or other users can reach into it (unix);
    /// caching on other hosts needs permissions Cage can check, so it is refused there.
    pub fn open(dir: impl AsRef<Path>, key: HmacKey) -> Result<Self, Error> {
        if cfg!(not(unix)) {
            return Err(Error::host(
                HostFailure::Filesystem,
                "the disk cache needs a unix host (owner-only permissions are checked)",
            ));
        }
        let dir = dir.as_ref();
        create_private_dir(dir)?;
        owner_only(dir, true)?;
        Ok(DiskCache {
            dir: dir.to_owned(),
            key,
            max_bytes: None,
        })
    }

    /// Bounds the entries' total size: after each write, the least recently used entries
    /// (oldest modification time; a lookup that finds an entry makes it the most recent) are
    /// removed until the rest fit in `max_bytes`. The entry just written is never removed, so
    /// one entry larger than the bound is kept alone. `None` (the default): unbounded.
    #[must_use]
    pub fn with_max_bytes(mut self, max_bytes: Option<u64>) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The size bound, if any ([`DiskCache::with_max_bytes`]).
    pub fn max_bytes(&self) -> Option<u64> {
        self.max_bytes
    }

    /// The cache's files with their size and modification time, oldest first.
    fn listing(&self) -> std::io::Result<Vec<(PathBuf, u64, std::time::SystemTime)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if !name.to_str().is_some_and(is_cache_file) {
                continue;
            }
            // An entry removed meanwhile (another process evicting) is simply gone.
            let Ok(meta) = fs::symlink_metadata(entry.path()) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            out.push((entry.path(), meta.len(), modified));
        }
        out.sort_by(|a, b| a.2.cmp(&b.2).then_with(|| a.0.cmp(&b.0)));
        Ok(out)
    }

    /// How many entries the directory holds and their total size.
    ///
    /// # Errors
    /// The directory cannot be listed.
    pub fn usage(&self) -> std::io::Result<DiskUsage> {
        let files = self.listing()?;
        Ok(DiskUsage {
            entries: files.len() as u64,
            bytes: files.iter().map(|f| f.1).sum(),
        })
    }

    /// Removes every entry (and unfinished temporary file); other files in the directory are
    /// left alone. Returns what was removed.
    ///
    /// # Errors
    /// The directory cannot be listed, or an entry cannot be removed.
    pub fn clear(&self) -> std::io::Result<DiskUsage> {
        let mut removed = DiskUsage::default();
        for (path, len, _) in self.listing()? {
            match fs::remove_file(&path) {
                Ok(()) => {
                    removed.entries += 1;
                    removed.bytes += len;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// Removes the least recently used entries until the rest fit in the bound, sparing
    /// `keep`. Returns what was removed.
    fn evict(&self, keep: &Path) -> std::io::Result<DiskUsage> {
        let mut removed = DiskUsage::default();
        let Some(max) = self.max_bytes else {
            return Ok(removed);
        };
        let files = self.listing()?;
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        for (path, len, _) in files {
            if total <= max {
                break;
            }
            if path == keep {
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => {
                    removed.entries += 1;
                    removed.bytes += len;
                    total -= len;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => total -= len,
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// [`DiskCache::open`] with the key in `key_file` ([`HmacKey::load_or_create`]), which must
    /// not be inside `dir`.
    ///
    /// # Errors
    /// As [`DiskCache::open`] and [`HmacKey::load_or_create`]; a key file inside the cache
    /// directory.
    pub fn open_with_key_file(dir: impl AsRef<Path>, key_file: &Path) -> Result<Self, Error> {
        let dir = dir.as_ref();
        create_private_dir(dir)?;
        let canonical_dir = fs::canonicalize(dir)
            .map_err(|e| fs_error(format!("cannot resolve {}", dir.display()), e))?;
        let key_parent = key_file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if let Ok(parent) = fs::canonicalize(key_parent)
            && parent.starts_with(&canonical_dir)
        {
            return Err(Error::host(
                HostFailure::Filesystem,
                format!(
                    "the cache key {} must not be inside the cache directory {}",
                    key_file.display(),
                    dir.display()
                ),
            ));
        }
        let key = HmacKey::load_or_create(key_file)?;
        Self::open(dir, key)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(key.to_hex())
    }

    /// The entry for `key`, read and verified.
    pub(crate) fn get(&self, key: &CacheKey) -> Lookup {
        let path = self.path(key);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::Absent,
            Err(e) => return Lookup::Failed(format!("{}: {e}", path.display())),
        };
        if !meta.is_file() {
            return Lookup::Rejected("not a regular file".into());
        }
        if meta.len() > MAX_ENTRY_BYTES {
            return Lookup::Rejected(format!("{} bytes is too large", meta.len()));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        let read =
            fs::File::open(&path).and_then(|f| f.take(MAX_ENTRY_BYTES + 1).read_to_end(&mut bytes));
        if let Err(e) = read {
            return Lookup::Failed(format!("{}: {e}", path.display()));
        }
        match self.verify(key, bytes) {
            Ok(code) => {
                // Most recently used: what the size bound evicts last. Best effort: a cache
                // that cannot record use still serves the entry.
                let _ = fs::File::options()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                Lookup::Found(code)
            }
            Err(why) => Lookup::Rejected(why),
        }
    }

    /// Checks an entry read into memory and returns its payload.
    fn verify(&self, key: &CacheKey, mut bytes: Vec<u8>) -> Result<VerifiedCode, String> {
        if bytes.len() < HEADER + MAC {
            return Err(format!("truncated ({} bytes)", bytes.len()));
        }
        if &bytes[..8] != MAGIC {
            return Err("not a Cage cache entry".into());
        }
        let format = u32::from_le_bytes(bytes[8..12].try_into().unwrap_or_default());
        if format != FORMAT_VERSION {
            return Err(format!(
                "format {format}, this build reads {FORMAT_VERSION}"
            ));
        }
        if bytes[12..44] != key.as_bytes()[..] {
            return Err("written for another module, runtime or policy".into());
        }
        let len = u64::from_le_bytes(bytes[44..52].try_into().unwrap_or_default());
        if u64::try_from(bytes.len() - HEADER - MAC).ok() != Some(len) {
            return Err(format!(
                "payload of {} bytes, header says {len}",
                bytes.len() - HEADER - MAC
            ));
        }
        let (body, mac) = bytes.split_at(bytes.len() - MAC);
        let mut m = self.key.mac();
        m.update(body);
        m.verify_slice(mac)
            .map_err(|_| "authentication failed (tampered, or written with another key)")?;
        bytes.truncate(bytes.len() - MAC);
        bytes.drain(..HEADER);
        Ok(VerifiedCode { bytes })
    }

    /// Writes the entry for `key` atomically: a private temporary file in the directory,
    /// renamed over the entry.
    pub(crate) fn put(&self, key: &CacheKey, payload: &[u8]) -> std::io::Result<()> {
        let mut entry = Vec::with_capacity(HEADER + payload.len() + MAC);
        entry.extend_from_slice(MAGIC);
        entry.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        entry.extend_from_slice(key.as_bytes());
        entry.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        entry.extend_from_slice(payload);
        let mut m = self.key.mac();
        m.update(&entry);
        entry.extend_from_slice(&m.finalize().into_bytes());
        let mut tmp = tempfile::Builder::new()
            .prefix(".entry-")
            .tempfile_in(&self.dir)?;
        tmp.write_all(&entry)?;
        let path = self.path(key);
        tmp.persist(&path).map_err(|e| e.error)?;
        if let Err(e) = self.evict(&path) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cache eviction failed");
        }
        Ok(())
    }
}
