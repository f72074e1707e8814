//! A runtime sharded by thread: several runtimes with one policy behind the object-safe API
//! ([`DynRuntime`]), each thread making its sandboxes on its own shard.
//!
//! Why: on one runtime, threads that make sandboxes contend on the runtime's shared state
//! (Wasmtime's engine, module registry, type registry and pool: reference counts and locks
//! every instantiation touches), so instance-per-request throughput on two threads is well
//! under twice one thread's. A shard per thread gives each its own. The cost: every module is
//! compiled once per shard (and its code held once per shard), and each shard has its own
//! caches. `max_instances` is split between the shards (their sum is the policy's), and a
//! thread whose shard is full takes a slot of another, so the cap holds for the whole and no
//! slot is lost. Made by `cage::runtime_sharded`; measured in docs/many-tenants.md.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::cache::{CacheStats, DiskCache};
use crate::error::Error;
use crate::host::HostFunctions;
use crate::module::{CheckedModule, ModuleInfo};
use crate::names::RuntimeName;
use crate::outcome::Rejection;
use crate::policy::Policy;
use crate::provider::ImportProvider;
use crate::records::Capabilities;

use super::{DynModule, DynRuntime, DynSandbox};

/// Threads numbered as they first make a sandbox of a sharded runtime.
static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// This thread's number, for picking its shard.
fn thread_number() -> usize {
    THREAD.with(|t| {
        t.get().unwrap_or_else(|| {
            let n = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
            t.set(Some(n));
            n
        })
    })
}

/// The policies of `shards` shards of `policy`: the same but for `max_instances`, split so
/// that they sum to the policy's (at most one shard per instance).
pub fn shard_policies(policy: &Policy, shards: usize) -> Vec<Policy> {
    let total = policy.limits.max_instances;
    let k = u32::try_from(shards.max(1))
        .unwrap_or(u32::MAX)
        .min(total.max(1));
    (0..k)
        .map(|i| {
            let mut p = policy.clone();
            p.limits.max_instances = total / k + u32::from(i < total % k);
            p
        })
        .collect()
}

/// Several runtimes of one policy, a thread's sandboxes made on its own shard: which thread
/// takes which shard, how `max_instances` is split and when a full shard lends a slot are in
/// `cage::runtime_sharded`'s documentation.
pub struct ShardedRuntime {
    shards: Vec<Box<dyn DynRuntime>>,
    policy: Policy,
}

impl std::fmt::Debug for ShardedRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedRuntime")
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl ShardedRuntime {
    /// `shards`, made with [`shard_policies`] of `policy`, as one runtime whose policy is
    /// `policy`.
    ///
    /// # Errors
    /// `rejected: invalid_invocation` when `shards` is empty or mixes runtimes.
    pub fn new(shards: Vec<Box<dyn DynRuntime>>, policy: Policy) -> Result<Self, Error> {
        let Some(first) = shards.first() else {
            return Err(Error::reject(
                Rejection::InvalidInvocation,
                "a sharded runtime needs at least one shard",
            ));
        };
        if shards.iter().any(|s| s.name() != first.name()) {
            return Err(Error::reject(
                Rejection::InvalidInvocation,
                "the shards of a runtime must all be the same runtime",
            ));
        }
        Ok(ShardedRuntime { shards, policy })
    }

    /// How many shards it has.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }
}

impl DynRuntime for ShardedRuntime {
    fn name(&self) -> RuntimeName {
        self.shards[0].name()
    }
    fn capabilities(&self) -> &Capabilities {
        self.shards[0].capabilities()
    }
    fn policy(&self) -> &Policy {
        &self.policy
    }
    /// Compiles `module` on every shard.
    fn compile_dyn(
        &self,
        module: &CheckedModule,
        host: &HostFunctions,
    ) -> Result<Box<dyn DynModule>, Error> {
        let modules = self
            .shards
            .iter()
            .map(|s| s.compile_dyn(module, host).map(Arc::from))
            .collect::<Result<Vec<Arc<dyn DynModule>>, Error>>()?;
        Ok(Box::new(ShardedModule {
            modules: modules.into(),
            policy: self.policy.clone(),
            native_async: self.capabilities().native_async,
        }))
    }
    fn check(&self, bytes: &[u8]) -> Result<CheckedModule, Error> {
        self.shards[0].check(bytes)
    }
    fn set_disk_cache(&self, cache: Option<DiskCache>) {
        for s in &self.shards {
            s.set_disk_cache(cache.clone());
        }
    }
    fn set_memory_cache_capacity(&self, entries: usize) {
        for s in &self.shards {
            s.set_memory_cache_capacity(entries);
        }
    }
    fn cache_stats(&self) -> CacheStats {
        let mut t = CacheStats::default();
        for s in self.shards.iter().map(|s| s.cache_stats()) {
            t.memory_hits += s.memory_hits;
            t.disk_hits += s.disk_hits;
            t.misses += s.misses;
            t.stored += s.stored;
            t.rejected += s.rejected;
            t.errors += s.errors;
        }
        t
    }
    fn add_provider(&self, provider: Arc<dyn ImportProvider>) {
        for s in &self.shards {
            s.add_provider(provider.clone());
        }
    }
    fn providers(&self) -> Vec<Arc<dyn ImportProvider>> {
        self.shards[0].providers()
    }
}

/// A module compiled on every shard of a [`ShardedRuntime`].
#[derive(Clone)]
struct ShardedModule {
    modules: Arc<[Arc<dyn DynModule>]>,
    policy: Policy,
    /// Whether the runtime runs async guests natively (`Capabilities::native_async`).
    native_async: bool,
}

impl ShardedModule {
    /// `make` on this thread's shard, else (its share of `max_instances` taken) on the next
    /// shards in turn, twice round (a slot freed meanwhile on a shard already tried is found);
    /// refused `limit_exceeded` for the whole cap when all are full. Any other failure (the
    /// process budget's refusal included) is the answer at once.
    fn on_a_shard<T>(&self, make: impl Fn(&dyn DynModule) -> Result<T, Error>) -> Result<T, Error> {
        let k = self.modules.len();
        let first = thread_number() % k;
        for i in 0..2 * k {
            match make(self.modules[(first + i) % k].as_ref()) {
                Err(e) if super::is_live_cap(&e) => {}
                other => return other,
            }
        }
        Err(Error::reject(
            Rejection::LimitExceeded,
            format!(
                "every shard is full: limits.max_instances = {} sandboxes are alive",
                self.policy.limits.max_instances
            ),
        ))
    }
}

impl DynModule for ShardedModule {
    fn sandbox(&self) -> Result<Box<dyn DynSandbox>, Error> {
        self.on_a_shard(|m| m.sandbox())
    }
    fn info(&self) -> &ModuleInfo {
        self.modules[0].info()
    }
    fn runtime_name(&self) -> RuntimeName {
        self.modules[0].runtime_name()
    }
    fn policy(&self) -> &Policy {
        &self.policy
    }
    fn clone_box(&self) -> Box<dyn DynModule> {
        Box::new(self.clone())
    }
    #[cfg(feature = "async")]
    fn native_async_sandbox(&self) -> Option<Result<Box<dyn super::DynAsyncSandbox>, Error>> {
        if !self.native_async {
            return None;
        }
        Some(self.on_a_shard(|m| {
            m.native_async_sandbox().unwrap_or_else(|| {
                Err(Error::reject(
                    Rejection::InvalidInvocation,
                    "a shard without native async",
                ))
            })
        }))
    }
}
