//! The compiled-module cache of the CLI: where it lives, its size bound, and `cage cache
//! info | clear`.
//!
//! `cage run` keeps compiled modules in `$XDG_CACHE_HOME/cage` (else `~/.cache/cage`) unless
//! `--no-cache` is given, entries authenticated with the key in
//! `$XDG_CONFIG_HOME/cage/cache.key` (else `~/.config/cage/cache.key`), and the entries bounded
//! to [`DEFAULT_CACHE_MAX`] in total (least recently used out first).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cage::cache::DiskUsage;
use cage::{DiskCache, HmacKey, Size};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::{EXIT_CONFIG, ErrorKind};

/// The default bound on the cache's entries, in bytes: 1 GiB (measured: a 2.8 MB program
/// compiles to 1.0 MB on Wasmtime, 4.1 MB on Wasmer Cranelift, 5.3 MB on Singlepass).
pub(crate) const DEFAULT_CACHE_MAX: Size = Size::gib(1);

fn env_dir(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

fn home() -> Option<PathBuf> {
    env_dir("HOME")
}

/// `$XDG_CACHE_HOME/cage`, else `~/.cache/cage`; `None` without either variable.
pub(crate) fn default_cache_dir() -> Option<PathBuf> {
    env_dir("XDG_CACHE_HOME")
        .or_else(|| home().map(|h| h.join(".cache")))
        .map(|d| d.join("cage"))
}

/// `$XDG_CONFIG_HOME/cage/cache.key`, else `~/.config/cage/cache.key`.
pub(crate) fn default_cache_key() -> Option<PathBuf> {
    env_dir("XDG_CONFIG_HOME")
        .or_else(|| home().map(|h| h.join(".config")))
        .map(|d| d.join("cage").join("cache.key"))
}

/// Opens the cache in `dir` (default: [`default_cache_dir`]) with the key in `key` (default:
/// [`default_cache_key`]), bounded to `max`.
///
/// # Errors
/// No directory or key could be chosen, or the cache cannot be set up (named).
pub(crate) fn open(dir: Option<&Path>, key: Option<&Path>, max: Size) -> Result<DiskCache, String> {
    let dir = dir.map(Path::to_owned).or_else(default_cache_dir).ok_or(
        "no cache directory: set $XDG_CACHE_HOME or $HOME, or give --cache DIR (or --no-cache)",
    )?;
    let key = key.map(Path::to_owned).or_else(default_cache_key).ok_or(
        "no cache key: set $XDG_CONFIG_HOME or $HOME, or give --cache-key FILE (or --no-cache)",
    )?;
    DiskCache::open_with_key_file(&dir, &key)
        .map(|c| c.with_max_bytes(Some(max.bytes())))
        .map_err(|e| format!("cache {}: {e}", dir.display()))
}

/// `cage cache`.
#[derive(Args, Debug)]
pub(crate) struct CacheCmd {
    #[command(subcommand)]
    command: CacheSub,
}

#[derive(Subcommand, Debug)]
enum CacheSub {
    /// Where the cache is, how many compiled modules it holds and their size, and its bound.
    Info {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Remove every compiled module from the cache (other files in the directory stay).
    Clear {
        #[command(flatten)]
        dir: DirArg,
    },
}

#[derive(Args, Debug)]
struct DirArg {
    /// The cache directory (default: $XDG_CACHE_HOME/cage, else ~/.cache/cage).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn main(cmd: CacheCmd) -> ExitCode {
    let (dir, clear) = match cmd.command {
        CacheSub::Info { dir } => (dir, false),
        CacheSub::Clear { dir } => (dir, true),
    };
    let json = dir.json;
    let fail = |msg: &dyn std::fmt::Display| {
        crate::fail_json(json, EXIT_CONFIG, ErrorKind::Config, None, msg)
    };
    let Some(path) = dir.cache.clone().or_else(default_cache_dir) else {
        return fail(&"no cache directory: set $XDG_CACHE_HOME or $HOME, or give --cache DIR");
    };
    let key = default_cache_key();
    let mut usage = DiskUsage::default();
    let mut removed = None;
    if path.exists() {
        // Listing and removing entries never reads one, so no key is needed: a throwaway one
        // opens the directory with the same ownership checks `cage run` makes.
        let cache = match DiskCache::open(&path, HmacKey::from_bytes([0; 32])) {
            Ok(c) => c,
            Err(e) => return fail(&format!("cache {}: {e}", path.display())),
        };
        if clear {
            match cache.clear() {
                Ok(r) => removed = Some(r),
                Err(e) => return fail(&format!("cache {}: {e}", path.display())),
            }
        }
        match cache.usage() {
            Ok(u) => usage = u,
            Err(e) => return fail(&format!("cache {}: {e}", path.display())),
        }
    } else if clear {
        removed = Some(DiskUsage::default());
    }
    if json {
        let mut v = json!({
            "dir": path.display().to_string(),
            "key": key.as_ref().map(|k| k.display().to_string()),
            "entries": usage.entries,
            "bytes": usage.bytes,
            "max_bytes": DEFAULT_CACHE_MAX.bytes(),
        });
        if let Some(r) = removed {
            v["removed"] = json!({"entries": r.entries, "bytes": r.bytes});
        }
        println!("{v}");
    } else {
        if let Some(r) = removed {
            println!(
                "removed {} compiled module(s), {}",
                r.entries,
                human(r.bytes)
            );
        }
        println!("cache     {}", path.display());
        println!(
            "key       {}",
            key.map_or_else(|| "(none)".to_owned(), |k| k.display().to_string())
        );
        println!(
            "entries   {} compiled module(s), {}",
            usage.entries,
            human(usage.bytes)
        );
        println!(
            "bound     {} (least recently used out first; cage run --cache-max SIZE)",
            DEFAULT_CACHE_MAX
        );
    }
    ExitCode::SUCCESS
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}
