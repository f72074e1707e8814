//! Modules as Cage sees them before any runtime does: loading, validation, static limits, and
//! the facts `cage inspect` shows.
//!
//! [`check`] is the only way to make a [`CheckedModule`], and every backend compiles only
//! `CheckedModule`s, so every backend gives the same verdict on a bad module by construction.

mod check;
mod detach;
mod info;
mod needs;

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

pub(crate) use check::{Bodies, check_scan};
pub use check::{MAX_BR_TABLE_TARGETS, check, describe, features_used, outline, require_supported};
pub use info::{Export, ExternType, FuncType, Import, MemoryInfo, ModuleInfo, TableInfo};
pub use needs::{Exceeded, StaticNeeds, static_needs};

use crate::error::Error;
use crate::outcome::Rejection;
use crate::value::Value;

pub use detach::START_EXPORT;

/// A module that passed validation and every static limit of the policy it was checked under.
#[derive(Clone)]
pub struct CheckedModule {
    bytes: Arc<[u8]>,
    info: Arc<ModuleInfo>,
    /// The binary backends compile: the start function detached into an export.
    runnable: Arc<[u8]>,
    start_export: Option<Arc<str>>,
    /// Compiled code a runtime found in its cache while checking (see `Runtime::check`), for
    /// that runtime's compile to use.
    preloaded: Option<Arc<dyn std::any::Any + Send + Sync>>,
    /// The preloaded code was found: this runtime compiled the module before.
    proven: bool,
}

impl std::fmt::Debug for CheckedModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedModule")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl CheckedModule {
    /// The module binary.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Imports, exports, memories, tables and the module's hash.
    pub fn info(&self) -> &ModuleInfo {
        &self.info
    }

    /// The binary a backend compiles: the module with its start function detached into the
    /// export [`CheckedModule::start_export`] (the same bytes when there is no start function).
    /// Backends call that export right after instantiation, under the fuel budget and deadline.
    pub fn runnable_bytes(&self) -> &[u8] {
        &self.runnable
    }

    /// The export that stands for the start function, if the module has one.
    pub fn start_export(&self) -> Option<&str> {
        self.start_export.as_deref()
    }

    pub(crate) fn new(bytes: &[u8], info: ModuleInfo) -> Self {
        let bytes: Arc<[u8]> = bytes.into();
        let (runnable, start_export) = match detach::detach_start(&bytes) {
            Some((b, name)) => (b.into(), Some(name.into())),
            None => (bytes.clone(), None),
        };
        CheckedModule {
            bytes,
            info: Arc::new(info),
            runnable,
            start_export,
            preloaded: None,
            proven: false,
        }
    }

    /// The same module carrying what a runtime's cache had for it; `found` when that is code
    /// (the runtime compiled the module before, so its proposals are supported).
    pub(crate) fn with_preloaded(
        mut self,
        code: Arc<dyn std::any::Any + Send + Sync>,
        found: bool,
    ) -> Self {
        self.preloaded = Some(code);
        self.proven = found;
        self
    }

    /// Whether a runtime's cache had code for it (see [`CheckedModule::with_preloaded`]).
    pub(crate) fn proven(&self) -> bool {
        self.proven
    }

    /// The code a runtime loaded for it, if any.
    pub(crate) fn preloaded(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        self.preloaded.as_deref()
    }
}

/// The signature of the exported function `export` of `info`, or the refusal naming the
/// functions it does export (`rejected: invalid_invocation`), in the words every caller of a
/// missing export gets (`cage::run`, `cage-wasi`'s commands).
///
/// # Errors
/// `rejected: invalid_invocation` when `info` exports no function `export`.
pub fn export_func<'a>(info: &'a ModuleInfo, export: &str) -> Result<&'a FuncType, Error> {
    info.export_func(export).ok_or_else(|| {
        let funcs: Vec<&str> = info
            .exports
            .iter()
            .filter(|e| e.ty.kind() == "func")
            .map(|e| e.name.as_str())
            .collect();
        Error::reject(
            Rejection::InvalidInvocation,
            format!(
                "no exported function `{export}` (exported functions: {})",
                funcs.join(", ")
            ),
        )
    })
}

/// Checks `args` against the signature of the exported function `export`.
///
/// # Errors
/// `rejected: invalid_invocation` naming what is wrong.
pub fn check_args(module: &CheckedModule, export: &str, args: &[Value]) -> Result<(), Error> {
    let bad = |m: String| Err(Error::reject(Rejection::InvalidInvocation, m));
    let ty = export_func(module.info(), export)?;
    if args.len() != ty.params.len() || args.iter().zip(&ty.params).any(|(a, t)| a.ty() != *t) {
        let list = |v: &mut dyn Iterator<Item = String>| v.collect::<Vec<_>>().join(", ");
        return bad(format!(
            "`{export}` takes ({}), got ({})",
            list(&mut ty.params.iter().map(ToString::to_string)),
            list(&mut args.iter().map(|a| a.ty().to_string()))
        ));
    }
    Ok(())
}

/// The lowercase hex SHA-256 of a module binary: how reports and log events name a module.
pub fn module_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Turns module source into a binary: `\0asm` binaries pass through, anything else is parsed as
/// WebAssembly text (with the `wat` feature; without it, text is refused with a message saying
/// so).
///
/// # Errors
/// Text that does not parse is `rejected: invalid_module`.
pub fn to_binary(source: &[u8]) -> Result<Vec<u8>, Error> {
    to_binary_named(source, None)
}

/// [`to_binary`] for the file at `path` (named in text errors).
fn to_binary_named(source: &[u8], path: Option<&Path>) -> Result<Vec<u8>, Error> {
    if source.starts_with(b"\0asm") {
        return Ok(source.to_vec());
    }
    let binary_name = path.is_some_and(|p| p.extension().is_some_and(|e| e == "wasm"));
    if binary_name || std::str::from_utf8(source).is_err() || source.contains(&0) {
        let magic: Vec<String> = source.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(Error::reject(
            Rejection::InvalidModule,
            format!(
                "{}not a WebAssembly module (magic {}, expected 00 61 73 6d){}",
                path.map_or_else(String::new, |p| format!("{}: ", p.display())),
                if magic.is_empty() {
                    "none: the file is empty".to_owned()
                } else {
                    magic.join(" ")
                },
                if binary_name {
                    ""
                } else {
                    ", and not WebAssembly text"
                }
            ),
        ));
    }
    text_to_binary(source, path)
}

#[cfg(feature = "wat")]
fn text_to_binary(source: &[u8], path: Option<&Path>) -> Result<Vec<u8>, Error> {
    wat::parse_bytes(source)
        .map(|b| b.into_owned())
        .map_err(|mut e| {
            if let Some(p) = path {
                e.set_path(p);
            }
            Error::reject(
                Rejection::InvalidModule,
                format!("invalid WebAssembly text: {e}"),
            )
        })
}

#[cfg(not(feature = "wat"))]
fn text_to_binary(_source: &[u8], path: Option<&Path>) -> Result<Vec<u8>, Error> {
    Err(Error::reject(
        Rejection::InvalidModule,
        format!(
            "{}WebAssembly text needs the `wat` feature of cage (or convert it with `wat2wasm`)",
            path.map_or_else(String::new, |p| format!("{}: ", p.display()))
        ),
    ))
}

/// Reads a `.wasm` or `.wat` file, refusing to read more than `max_size` binary bytes (eight
/// times that for text) so that a huge file cannot exhaust host memory.
///
/// # Errors
/// A file that cannot be read is a host failure (`filesystem`); oversized input is
/// `limit_exceeded`; a file that is neither a binary module nor valid text is
/// `invalid_module`, named.
pub fn load(path: &Path, max_size: u64) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let io = |e: std::io::Error| {
        Error::host_from(
            crate::outcome::HostFailure::Filesystem,
            format!("cannot read {}: {e}", path.display()),
            e,
        )
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let cap = max_size.saturating_mul(8).saturating_add(1);
    let mut source = Vec::new();
    file.take(cap).read_to_end(&mut source).map_err(io)?;
    if source.len() as u64 >= cap
        || (source.starts_with(b"\0asm") && source.len() as u64 > max_size)
    {
        return Err(Error::reject(
            Rejection::LimitExceeded,
            format!(
                "{} is larger than limits.max_module_size ({max_size} bytes)",
                path.display()
            ),
        ));
    }
    to_binary_named(&source, Some(path))
}

#[cfg(test)]
mod tests;
