//! Scratch copies of read-write directories, and digests of directory trees.
//!
//! Several runs of one module (`cage run --runtime all`, `cage profile`) must each start from
//! the same files and must not change the user's directories: each run gets its own copy of
//! every read-write preopen, removed when the run is over. Read-only preopens are shared as
//! they are (nothing can change them).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use cage::Policy;
use cage::policy::DirMode;

/// A directory under the system's temporary directory, removed (with its contents) on drop.
#[derive(Debug)]
pub(crate) struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// A new, empty, owner-only directory.
    pub(crate) fn new() -> std::io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("cage-scratch-{}-{n}", std::process::id()));
            let mut b = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            match b.create(&path) {
                Ok(()) => return Ok(ScratchDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Its path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Copies the tree at `from` into `to` (which exists): files with their permissions,
/// directories, and symbolic links as links (never followed).
pub(crate) fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let ty = entry.file_type()?;
        let target = to.join(entry.file_name());
        if ty.is_dir() {
            std::fs::create_dir(&target)?;
            copy_tree(&entry.path(), &target)?;
            let perms = std::fs::metadata(entry.path())?.permissions();
            std::fs::set_permissions(&target, perms)?;
        } else if ty.is_symlink() {
            let link = std::fs::read_link(entry.path())?;
            #[cfg(unix)]
            std::os::unix::fs::symlink(&link, &target)?;
            #[cfg(not(unix))]
            let _ = link;
        } else if ty.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
        // Sockets, FIFOs and devices are not copied: the guest could not open them anyway.
    }
    Ok(())
}

/// The scratch copies one run works in: keep it alive for the run.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    dirs: Vec<ScratchDir>,
}

impl Scratch {
    /// `policy` with every read-write preopen replaced by a fresh copy of it; read-only ones
    /// stay as they are.
    ///
    /// # Errors
    /// A directory that cannot be copied, naming it.
    pub(crate) fn for_policy(policy: &Policy) -> Result<(Policy, Scratch), String> {
        let mut p = policy.clone();
        let mut scratch = Scratch::default();
        for d in &mut p.wasi.dirs {
            if d.mode != DirMode::Rw {
                continue;
            }
            let copy = ScratchDir::new()
                .and_then(|s| copy_tree(&d.host, s.path()).map(|()| s))
                .map_err(|e| {
                    format!(
                        "cannot make a scratch copy of {} (for {}): {e}",
                        d.host.display(),
                        d.guest
                    )
                })?;
            d.host = copy.path().to_owned();
            scratch.dirs.push(copy);
        }
        Ok((p, scratch))
    }

    /// The digest of every read-write directory after the run (see [`tree_digest`]), in
    /// policy order; `None` when there are none.
    pub(crate) fn digest(&self) -> Option<String> {
        if self.dirs.is_empty() {
            return None;
        }
        let mut all = String::new();
        for d in &self.dirs {
            all.push_str(&tree_digest(d.path()));
            all.push('\n');
        }
        Some(sha256_hex(all.as_bytes()))
    }
}

/// The lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    cage::module::module_hash(bytes)
}

/// A SHA-256 over a directory tree: every entry's relative path, kind, and for a file the
/// SHA-256 of its contents, for a link its target, in name order. Two trees have the same
/// digest when they hold the same names with the same contents (permissions and times are not
/// part of it).
pub(crate) fn tree_digest(root: &Path) -> String {
    let mut lines = Vec::new();
    walk(root, Path::new(""), &mut lines);
    lines.sort();
    sha256_hex(lines.join("\n").as_bytes())
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(root.join(rel)) else {
        out.push(format!("{}\tunreadable", rel.display()));
        return;
    };
    for entry in entries.flatten() {
        let path = rel.join(entry.file_name());
        let Ok(ty) = entry.file_type() else { continue };
        if ty.is_dir() {
            out.push(format!("{}\tdir", path.display()));
            walk(root, &path, out);
        } else if ty.is_symlink() {
            let target = std::fs::read_link(entry.path()).unwrap_or_default();
            out.push(format!("{}\tlink\t{}", path.display(), target.display()));
        } else if ty.is_file() {
            let sum =
                std::fs::read(entry.path()).map_or_else(|e| e.to_string(), |b| sha256_hex(&b));
            out.push(format!("{}\tfile\t{sum}", path.display()));
        } else {
            out.push(format!("{}\tother", path.display()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_start_alike_and_digests_see_every_change() {
        let src = ScratchDir::new().unwrap();
        std::fs::create_dir(src.path().join("sub")).unwrap();
        std::fs::write(src.path().join("sub/a.txt"), "a").unwrap();
        std::fs::write(src.path().join("b.txt"), "b").unwrap();
        let mut policy = Policy::default();
        policy
            .wasi
            .dirs
            .push(cage::policy::Dir::new(src.path(), "/w", DirMode::Rw));
        let (p1, s1) = Scratch::for_policy(&policy).unwrap();
        let (p2, s2) = Scratch::for_policy(&policy).unwrap();
        assert_ne!(p1.wasi.dirs[0].host, src.path());
        assert_ne!(p1.wasi.dirs[0].host, p2.wasi.dirs[0].host);
        assert_eq!(s1.digest(), s2.digest());
        assert_eq!(tree_digest(src.path()), tree_digest(&p1.wasi.dirs[0].host));
        std::fs::write(p1.wasi.dirs[0].host.join("sub/a.txt"), "A").unwrap();
        assert_ne!(s1.digest(), s2.digest(), "a changed file");
        std::fs::write(src.path().join("c.txt"), "").unwrap();
        assert_eq!(
            std::fs::read_to_string(src.path().join("sub/a.txt")).unwrap(),
            "a"
        );
        let gone = p1.wasi.dirs[0].host.clone();
        drop(s1);
        assert!(!gone.exists(), "removed with the run");
        // Read-only directories are not copied.
        policy.wasi.dirs[0].mode = DirMode::Ro;
        let (p3, s3) = Scratch::for_policy(&policy).unwrap();
        assert_eq!(p3.wasi.dirs[0].host, src.path());
        assert_eq!(s3.digest(), None);
    }
}
