//! WASI preview 1 on Wasmer: `wasmer-wasix` with Cage's controls around it.
//!
//! - Read-only directories are enforced in the filesystem the guest sees ([`ReadOnly`]), because
//!   WASIX resolves absolute paths from a virtual root with all rights, so a preopen's rights
//!   alone do not stop writes.
//! - stdout and stderr are bounded in-memory sinks ([`Sink`]) with Wasmtime's semantics: a write
//!   past `limits.max_output` keeps what fits and fails with `EIO`.
//! - stdin is the policy's bytes; nothing of the host's stdio, environment or network is
//!   reachable (networking is `UnsupportedVirtualNetworking`, no HTTP client).
//! - The tokio runtime wasmer-wasix needs is created and owned by the backend.
//! - `proc_exit`, `poll_oneoff`, the clocks and (seeded) `random_get` are Cage's portable
//!   functions, defined over the WASIX ones.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use cage_core::Policy;
use cage_core::policy::DirMode;
use virtual_fs::{
    AsyncRead, AsyncSeek, AsyncWrite, FileOpener, FileSystem, FsError, Metadata, MountFileSystem,
    OpenOptions, OpenOptionsConfig, ReadBuf, ReadDir, StaticFile, VirtualFile,
};
use wasmer_wasix::runtime::task_manager::tokio::TokioTaskManager;
use wasmer_wasix::{PluggableRuntime, UnsupportedVirtualNetworking, WasiEnv};

/// A bounded in-memory output stream.
#[derive(Debug, Clone)]
pub(crate) struct Sink {
    buf: Arc<Mutex<Vec<u8>>>,
    limit: usize,
}

impl Sink {
    pub(crate) fn new(limit: usize) -> Self {
        Sink {
            buf: Arc::default(),
            limit,
        }
    }

    pub(crate) fn contents(&self) -> Vec<u8> {
        self.buf
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl AsyncWrite for Sink {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut buf = self.buf.lock().unwrap_or_else(PoisonError::into_inner);
        let room = self.limit.saturating_sub(buf.len());
        if data.len() > room {
            buf.extend_from_slice(&data[..room]);
            return Poll::Ready(Err(io::Error::other("limits.max_output reached")));
        }
        buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Sink {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncSeek for Sink {
    fn start_seek(self: Pin<&mut Self>, _: io::SeekFrom) -> io::Result<()> {
        Ok(())
    }
    fn poll_complete(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Poll::Ready(Ok(0))
    }
}

impl VirtualFile for Sink {
    fn last_accessed(&self) -> u64 {
        0
    }
    fn last_modified(&self) -> u64 {
        0
    }
    fn created_time(&self) -> u64 {
        0
    }
    fn size(&self) -> u64 {
        0
    }
    fn set_len(&mut self, _: u64) -> virtual_fs::Result<()> {
        Ok(())
    }
    fn unlink(&mut self) -> virtual_fs::Result<()> {
        Ok(())
    }
    fn poll_read_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(0))
    }
    fn poll_write_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let used = self
            .buf
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        Poll::Ready(Ok(self.limit.saturating_sub(used).max(1)))
    }
}

/// A filesystem that refuses every change: create, remove, rename, link, and opening for write,
/// create, append or truncate (`PermissionDenied`, which the guest sees as `EPERM`). Files it
/// opens refuse writes, resizing, unlinking and new times.
#[derive(Debug)]
pub(crate) struct ReadOnly<F>(pub F);

fn denied<T>() -> virtual_fs::Result<T> {
    Err(FsError::PermissionDenied)
}

impl<F: FileSystem> FileSystem for ReadOnly<F> {
    fn readlink(&self, path: &Path) -> virtual_fs::Result<PathBuf> {
        self.0.readlink(path)
    }
    fn read_dir(&self, path: &Path) -> virtual_fs::Result<ReadDir> {
        self.0.read_dir(path)
    }
    fn create_dir(&self, _: &Path) -> virtual_fs::Result<()> {
        denied()
    }
    fn create_symlink(&self, _: &Path, _: &Path) -> virtual_fs::Result<()> {
        denied()
    }
    fn hard_link(&self, _: &Path, _: &Path) -> virtual_fs::Result<()> {
        denied()
    }
    fn remove_dir(&self, _: &Path) -> virtual_fs::Result<()> {
        denied()
    }
    fn rename<'a>(
        &'a self,
        _: &'a Path,
        _: &'a Path,
    ) -> futures::future::BoxFuture<'a, virtual_fs::Result<()>> {
        Box::pin(async { denied() })
    }
    fn metadata(&self, path: &Path) -> virtual_fs::Result<Metadata> {
        self.0.metadata(path)
    }
    fn symlink_metadata(&self, path: &Path) -> virtual_fs::Result<Metadata> {
        self.0.symlink_metadata(path)
    }
    fn remove_file(&self, _: &Path) -> virtual_fs::Result<()> {
        denied()
    }
    fn new_open_options(&self) -> OpenOptions<'_> {
        OpenOptions::new(self)
    }
}

impl<F: FileSystem> FileOpener for ReadOnly<F> {
    fn open(
        &self,
        path: &Path,
        conf: &OpenOptionsConfig,
    ) -> virtual_fs::Result<Box<dyn VirtualFile + Send + Sync + 'static>> {
        if conf.write || conf.create || conf.create_new || conf.append || conf.truncate {
            return denied();
        }
        let file = self.0.new_open_options().options(conf.clone()).open(path)?;
        Ok(Box::new(ReadOnlyFile(file)))
    }
}

/// A file opened through [`ReadOnly`].
#[derive(Debug)]
struct ReadOnlyFile(Box<dyn VirtualFile + Send + Sync + 'static>);

impl AsyncRead for ReadOnlyFile {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncSeek for ReadOnlyFile {
    fn start_seek(mut self: Pin<&mut Self>, pos: io::SeekFrom) -> io::Result<()> {
        Pin::new(&mut *self.0).start_seek(pos)
    }
    fn poll_complete(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Pin::new(&mut *self.0).poll_complete(cx)
    }
}

impl AsyncWrite for ReadOnlyFile {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::ErrorKind::PermissionDenied.into()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl VirtualFile for ReadOnlyFile {
    fn last_accessed(&self) -> u64 {
        self.0.last_accessed()
    }
    fn last_modified(&self) -> u64 {
        self.0.last_modified()
    }
    fn created_time(&self) -> u64 {
        self.0.created_time()
    }
    fn set_times(&mut self, _: Option<u64>, _: Option<u64>) -> virtual_fs::Result<()> {
        denied()
    }
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn set_len(&mut self, _: u64) -> virtual_fs::Result<()> {
        denied()
    }
    fn unlink(&mut self) -> virtual_fs::Result<()> {
        denied()
    }
    fn poll_read_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_read_ready(cx)
    }
    fn poll_write_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::ErrorKind::PermissionDenied.into()))
    }
}

/// The captured output of one sandbox.
pub(crate) struct Outputs {
    stdout: Sink,
    stderr: Sink,
    limit: usize,
}

impl Outputs {
    pub(crate) fn take(&self) -> cage_core::Output {
        cage_core::Output::capped(self.stdout.contents(), self.stderr.contents(), self.limit)
    }
}

/// A WASI environment for one sandbox under `policy`.
pub(crate) fn env(
    policy: &Policy,
    handle: &tokio::runtime::Handle,
    engine: &wasmer::Engine,
) -> Result<(WasiEnv, Option<Outputs>), String> {
    let w = &policy.wasi;
    let limit = usize::try_from(policy.limits.max_output.bytes()).unwrap_or(usize::MAX);
    let name = w.args.first().cloned().unwrap_or_default();
    let mut b = WasiEnv::builder(name)
        .args(w.args.iter().skip(1))
        .envs(w.env.iter());
    let outputs = if w.inherit_stdio {
        None
    } else {
        let out = Outputs {
            stdout: Sink::new(limit),
            stderr: Sink::new(limit),
            limit,
        };
        b = b
            .stdin(Box::new(StaticFile::new(
                w.stdin.clone().unwrap_or_default().into_bytes(),
            )))
            .stdout(Box::new(out.stdout.clone()))
            .stderr(Box::new(out.stderr.clone()));
        Some(out)
    };
    let mounts = MountFileSystem::new();
    for d in &w.dirs {
        let host = virtual_fs::host_fs::FileSystem::new(handle.clone(), &d.host)
            .map_err(|e| format!("wasi.dirs: cannot open {}: {e}", d.host.display()))?;
        let fs: Arc<dyn FileSystem + Send + Sync> = match d.mode {
            DirMode::Ro => Arc::new(ReadOnly(host)),
            DirMode::Rw => Arc::new(host),
        };
        mounts
            .mount(&d.guest, fs)
            .map_err(|e| format!("wasi.dirs: cannot mount {}: {e}", d.guest))?;
    }
    b = b.mount_fs(mounts);
    for d in &w.dirs {
        let rw = d.mode == DirMode::Rw;
        b = b
            .preopen_build(|p| {
                p.directory(&d.guest)
                    .alias(&d.guest)
                    .read(true)
                    .write(rw)
                    .create(rw)
            })
            .map_err(|e| format!("wasi.dirs: cannot preopen {}: {e}", d.guest))?;
    }
    let mut rt = PluggableRuntime::new(Arc::new(TokioTaskManager::new(handle.clone())));
    rt.set_networking_implementation(UnsupportedVirtualNetworking::default());
    rt.set_engine(engine.clone());
    rt.http_client = None;
    let env = b
        .runtime(Arc::new(rt))
        .build()
        .map_err(|e| format!("cannot build the WASI environment: {e}"))?;
    Ok((env, outputs))
}
