//! The compiled-module cache: compiling the same module twice under the same runtime and the
//! same code-shaping policy reuses the first result, in memory (per runtime) and, when the
//! application asks for it, on disk ([`DiskCache`]).
//!
//! **The key** ([`CacheKey`]) is a SHA-256 over everything that changes machine code: the
//! cache format, the runtime's name, its [`code fingerprint`](crate::backend::Backend::code_fingerprint)
//! (exact runtime version, the engine's own compatibility hash or its deterministic id, CPU
//! features, Cage's middleware and tunables), the policy settings that reach code generation or
//! the static check ([`policy_fingerprint`]) and the module's SHA-256.
//!
//! **The check.** An entry is written only after the module passed [`crate::check`] and
//! compiled, so an authenticated entry under a key also stands for that verdict:
//! [`crate::Runtime::check`] then reads the module's structure without validating every
//! function body again (validation is most of the time a cached compile would take).
//!
//! **Trust.** Deserializing compiled code is `unsafe` in both runtimes: the bytes become
//! executable code. So a disk entry is read fully into memory, authenticated with an
//! HMAC-SHA256 whose key the cache directory never holds, checked against the key it was
//! looked up under, and only then handed to the backend, as a [`VerifiedCode`] that nothing
//! outside this module can make. An entry that fails any check is ignored, counted in
//! [`CacheStats::rejected`], and the module is compiled again (and the entry rewritten).

mod disk;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

pub(crate) use disk::Lookup;
pub use disk::{DiskCache, DiskUsage, HmacKey};

use crate::policy::Policy;

/// Version of the cache's key derivation and entry format; part of every key.
pub const FORMAT_VERSION: u32 = 1;

/// Compiled modules a runtime keeps in memory by default (least recently used first out).
pub const DEFAULT_MEMORY_ENTRIES: usize = 64;

/// What identifies one compiled module: a SHA-256 over the format, the runtime, its code
/// fingerprint, the policy's code-shaping settings and the module's bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    /// The key of `module` compiled by `runtime` (name and code fingerprint) under a policy
    /// whose [`policy_fingerprint`] is `policy`.
    pub fn new(runtime: &str, fingerprint: &[u8], policy: &[u8], module: &[u8]) -> Self {
        let mut h = Sha256::new();
        let mut field = |b: &[u8]| {
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        };
        field(b"cage compiled-module cache");
        field(&FORMAT_VERSION.to_le_bytes());
        field(runtime.as_bytes());
        field(fingerprint);
        field(policy);
        field(module);
        CacheKey(h.finalize().into())
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex: the entry's file name.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CacheKey({})", self.to_hex())
    }
}

/// The policy settings a cache entry depends on, as bytes for the key: the proposals, the cost
/// model and every limit (the fuel budget too: Wasmer's middleware bakes it into the module;
/// and every static limit, since a cache hit also stands for the module having passed
/// [`crate::check`] under them), except those that only act at run time: the timeout's length
/// (whether there is one changes code) and `max_instances`. WASI settings are not code.
/// Changing a run-time setting keeps the cache warm; any other change misses it.
pub fn policy_fingerprint(policy: &Policy) -> Vec<u8> {
    let mut limits = policy.limits.clone();
    limits.timeout = limits.timeout.map(|_| std::time::Duration::from_secs(1));
    limits.max_instances = 0;
    let features: Vec<&str> = policy.features.iter().map(|p| p.name()).collect();
    format!(
        "features={features:?};costs={:?};limits={limits:?}",
        policy.costs
    )
    .into_bytes()
}

/// Compiled code read from a [`DiskCache`] and authenticated: the only bytes a backend may
/// deserialize. Only the cache makes one.
pub struct VerifiedCode {
    bytes: Vec<u8>,
}

impl VerifiedCode {
    /// The serialized code, as the backend's `serialize_code` wrote it.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::fmt::Debug for VerifiedCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifiedCode({} bytes)", self.bytes.len())
    }
}

/// What a runtime's cache did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Compiles answered from memory.
    pub memory_hits: u64,
    /// Compiles answered from the disk cache.
    pub disk_hits: u64,
    /// Compiles that compiled.
    pub misses: u64,
    /// Disk entries written.
    pub stored: u64,
    /// Disk entries ignored: tampered, truncated, written with another key, another format or
    /// for another module, runtime or policy, or refused by the runtime.
    pub rejected: u64,
    /// Disk reads or writes that failed (the compile went on without the cache).
    pub errors: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    memory_hits: AtomicU64,
    disk_hits: AtomicU64,
    misses: AtomicU64,
    stored: AtomicU64,
    rejected: AtomicU64,
    errors: AtomicU64,
}

/// Which counter to bump.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Event {
    MemoryHit,
    DiskHit,
    Miss,
    Stored,
    Rejected,
    Error,
}

impl Counters {
    pub(crate) fn count(&self, e: Event) {
        let c = match e {
            Event::MemoryHit => &self.memory_hits,
            Event::DiskHit => &self.disk_hits,
            Event::Miss => &self.misses,
            Event::Stored => &self.stored,
            Event::Rejected => &self.rejected,
            Event::Error => &self.errors,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStats {
            memory_hits: g(&self.memory_hits),
            disk_hits: g(&self.disk_hits),
            misses: g(&self.misses),
            stored: g(&self.stored),
            rejected: g(&self.rejected),
            errors: g(&self.errors),
        }
    }
}

/// A runtime's in-memory cache: at most `capacity` entries, least recently used out first.
#[derive(Debug)]
pub(crate) struct MemoryCache<C> {
    inner: Mutex<MemoryInner<C>>,
}

#[derive(Debug)]
struct MemoryInner<C> {
    capacity: usize,
    tick: u64,
    entries: HashMap<CacheKey, (C, u64)>,
}

impl<C: Clone> MemoryCache<C> {
    pub(crate) fn new(capacity: usize) -> Self {
        MemoryCache {
            inner: Mutex::new(MemoryInner {
                capacity,
                tick: 0,
                entries: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner<C>> {
        // The map holds no invariant a panic could break half-way.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, key: &CacheKey) -> Option<C> {
        let mut g = self.lock();
        g.tick += 1;
        let tick = g.tick;
        let (code, used) = g.entries.get_mut(key)?;
        *used = tick;
        Some(code.clone())
    }

    pub(crate) fn insert(&self, key: CacheKey, code: C) {
        let mut g = self.lock();
        if g.capacity == 0 {
            return;
        }
        g.tick += 1;
        let tick = g.tick;
        g.entries.insert(key, (code, tick));
        while g.entries.len() > g.capacity {
            let oldest = g
                .entries
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => g.entries.remove(&k),
                None => break,
            };
        }
    }

    pub(crate) fn set_capacity(&self, capacity: usize) {
        let mut g = self.lock();
        g.capacity = capacity;
        while g.entries.len() > capacity {
            let oldest = g
                .entries
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => g.entries.remove(&k),
                None => break,
            };
        }
    }
}

#[cfg(test)]
mod tests;
