//! The application API over any backend, written once: [`Runtime`] compiles, [`Module`] makes
//! sandboxes, [`Sandbox`] runs guest code through one lifecycle.
//!
//! A sandbox is *fresh* until [`Sandbox::instantiate`], then *instantiated* (calls allowed), or
//! *failed* (instantiation or the start function trapped: it never runs again, so a retry cannot
//! buy fresh fuel), or *poisoned* (the runtime or a host function panicked). The same rules hold
//! on every backend because they are enforced here, not in the backends.
//!
//! This folder holds the lifecycle in three rooms: this module is the [`Runtime`] (validation,
//! compilation and the compiled-module caches, import providers, the live-sandbox cap) and the
//! [`Module`] it makes; [`sandbox`] is the [`Sandbox`] and its calls; [`dynamic`] is the
//! object-safe face (`Dyn*`) for runtimes picked by name.

#[cfg(feature = "async")]
mod asynchronous;
mod dynamic;
mod sandbox;
mod sharded;

#[cfg(feature = "async")]
pub use dynamic::DynAsyncSandbox;
pub use dynamic::{DynModule, DynRuntime, DynSandbox};
use sandbox::{FuelBook, Lifecycle};
pub use sandbox::{Func, Sandbox, TypedFunc};
pub use sharded::{ShardedRuntime, shard_policies};

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use crate::backend::Backend;
use crate::cache::Lookup;
use crate::cache::{CacheKey, CacheStats, Counters, DiskCache, Event, MemoryCache};
use crate::error::Error;
use crate::host::{HostFunctions, panic_message};
use crate::module::{Bodies, CheckedModule, ModuleInfo, check_scan, require_supported};
use crate::names::RuntimeName;
use crate::outcome::{HostFailure, Rejection};
use crate::policy::Policy;
use crate::provider::ImportProvider;
use crate::records::Capabilities;
use crate::state::{Extensions, HostState};

/// The live-sandbox count of one runtime, enforcing `limits.max_instances`.
#[derive(Debug, Default)]
struct LiveSandboxes(Arc<AtomicU32>);

/// One live sandbox; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct LiveSlot(Arc<AtomicU32>);

impl LiveSandboxes {
    fn acquire(&self, max: u32) -> Result<LiveSlot, Error> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|n| {
                Error::reject(Rejection::LimitExceeded, format!("{n} {LIVE_CAP} = {max}"))
            })?;
        Ok(LiveSlot(self.0.clone()))
    }
}

/// The words of the live-sandbox cap's refusal ([`LiveSandboxes::acquire`]).
const LIVE_CAP: &str = "sandboxes are alive, limits.max_instances";

/// Whether `e` is the live-sandbox cap's refusal (not the process budget's, nor a pool's):
/// the one a `ShardedRuntime` answers by trying another shard.
pub(crate) fn is_live_cap(e: &Error) -> bool {
    e.as_rejection() == Some(Rejection::LimitExceeded)
        && e.message().is_some_and(|m| m.contains(LIVE_CAP))
}

impl Drop for LiveSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a runtime's cache had for a module it checked, carried by the [`CheckedModule`] to its
/// compile: the code, or `None` when the disk cache was looked up in vain (so the compile does
/// not read, and count, the same bad entry twice).
struct Preloaded<C> {
    key: CacheKey,
    code: Option<Charged<C>>,
    /// The runtime whose caches answered ([`Inner::id`]): code is only ever used by the
    /// runtime (engine) that made it, even when another runtime's cache key is the same (the
    /// shards of a `ShardedRuntime`, two runtimes of one policy).
    runtime: u64,
}

/// Compiled code with its share of the process budget ([`Backend::code_cost`]): the share is
/// given back when the last module, sandbox or cache entry holding the code is dropped.
type Charged<C> = (C, Arc<crate::budget::Reservation>);

/// Numbers runtimes for [`Preloaded::runtime`].
static NEXT_RUNTIME: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

struct Inner<B: Backend> {
    /// Unique in the process.
    id: u64,
    backend: B,
    live: LiveSandboxes,
    /// Compiled code and the checked module it came from, by cache key.
    memory_cache: MemoryCache<(Charged<B::Code>, CheckedModule)>,
    disk_cache: RwLock<Option<DiskCache>>,
    cache_counters: Counters,
    /// The backend's code fingerprint and the policy's, computed once.
    fingerprints: OnceLock<(Vec<u8>, Vec<u8>)>,
    /// Import sets this runtime provides besides the application's host functions.
    providers: RwLock<Vec<Arc<dyn ImportProvider>>>,
}

/// The providers a module imports from, kept with the module and its sandboxes.
pub(crate) type Providers = Arc<[Arc<dyn ImportProvider>]>;

/// A runtime configured by one policy: compile modules, make sandboxes. Cheap to clone (shared).
/// Backends offer constructors (`cage_wasmtime::runtime`, `cage_wasmer::runtime`); the `cage`
/// crate picks one by name or by feature.
pub struct Runtime<B: Backend> {
    inner: Arc<Inner<B>>,
}

impl<B: Backend> Clone for Runtime<B> {
    fn clone(&self) -> Self {
        Runtime {
            inner: self.inner.clone(),
        }
    }
}

impl<B: Backend> std::fmt::Debug for Runtime<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

impl<B: Backend> Runtime<B> {
    /// A runtime over `backend`, whose policy [`crate::backend::runtime`] has validated.
    pub(crate) fn from_backend(backend: B) -> Self {
        Runtime {
            inner: Arc::new(Inner {
                id: NEXT_RUNTIME.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                backend,
                live: LiveSandboxes::default(),
                memory_cache: MemoryCache::new(crate::cache::DEFAULT_MEMORY_ENTRIES),
                disk_cache: RwLock::new(None),
                cache_counters: Counters::default(),
                fingerprints: OnceLock::new(),
                providers: RwLock::new(Vec::new()),
            }),
        }
    }

    /// The runtime's name.
    pub fn name(&self) -> RuntimeName {
        self.inner.backend.name()
    }

    /// What the runtime can do.
    pub fn capabilities(&self) -> &Capabilities {
        self.inner.backend.capabilities()
    }

    /// The policy it was built with.
    pub fn policy(&self) -> &Policy {
        self.inner.backend.policy()
    }

    /// The backend (backend authors reach it through [`crate::backend::backend_of`]).
    pub(crate) fn backend(&self) -> &B {
        &self.inner.backend
    }

    /// Checks `bytes` (a binary module, or WebAssembly text with the `wat` feature) under the
    /// policy and compiles it with its imports bound to `host` and to the runtime's import
    /// providers (WASI, when `cage-wasi`'s provider was added).
    ///
    /// # Errors
    /// Rejections (`invalid_module`, `feature_disabled`, `limit_exceeded`,
    /// `unresolved_import`, `unsupported`) and host failures.
    pub fn compile(&self, bytes: &[u8], host: &HostFunctions) -> Result<Module<B>, Error> {
        let checked = self.check(bytes)?;
        self.compile_checked(&checked, host)
    }

    /// Checks `bytes` (a binary module, or WebAssembly text with the `wat` feature) under this
    /// runtime's policy, as [`crate::check`] does, using the compiled-module cache: a module
    /// this runtime compiled before (in memory), or whose authenticated disk entry proves it
    /// passed this check under this policy, is not validated again (only its module-level
    /// structure is read), and the code found travels with the result to
    /// [`Runtime::compile_checked`].
    ///
    /// # Errors
    /// As [`crate::check`].
    pub fn check(&self, bytes: &[u8]) -> Result<CheckedModule, Error> {
        let binary = crate::module::to_binary(bytes)?;
        let policy = self.policy();
        if binary.len() as u64 > policy.limits.max_module_size.bytes() {
            return crate::module::check(&binary, policy);
        }
        let sha256 = crate::module::module_hash(&binary);
        let key = self.key_for(&sha256);
        let count = |e| self.inner.cache_counters.count(e);
        if let Some((code, checked)) = self.inner.memory_cache.get(&key) {
            count(Event::MemoryHit);
            return Ok(self.preloaded(checked, key, Some(code), true));
        }
        if let Some(code) = self.load(&key) {
            let checked = check_scan(&binary, policy, Some(sha256), Bodies::Proven)?;
            // Code the process budget has no room for is dropped: the compile that follows is
            // refused with the budget's reason.
            if let Ok(held) = self.charge(&checked) {
                count(Event::DiskHit);
                let code = (code, held);
                self.inner
                    .memory_cache
                    .insert(key, (code.clone(), checked.clone()));
                return Ok(self.preloaded(checked, key, Some(code), true));
            }
            return Ok(self.preloaded(checked, key, None, false));
        }
        let checked = check_scan(&binary, policy, Some(sha256), Bodies::Validate)?;
        Ok(self.preloaded(checked, key, None, false))
    }

    /// `checked` carrying what this runtime's caches had for it (`hit`: code was found).
    fn preloaded(
        &self,
        checked: CheckedModule,
        key: CacheKey,
        code: Option<Charged<B::Code>>,
        hit: bool,
    ) -> CheckedModule {
        let p = Preloaded {
            key,
            code,
            runtime: self.inner.id,
        };
        checked.with_preloaded(Arc::new(p), hit)
    }

    /// Compiles a module core has already checked (under this runtime's policy).
    ///
    /// # Errors
    /// As [`Runtime::compile`], less the validation verdicts.
    pub fn compile_checked(
        &self,
        checked: &CheckedModule,
        host: &HostFunctions,
    ) -> Result<Module<B>, Error> {
        let backend = &self.inner.backend;
        let key = self.key_for(&checked.info().sha256);
        let preloaded = checked
            .preloaded()
            .and_then(|p| p.downcast_ref::<Preloaded<B::Code>>())
            .filter(|p| p.key == key && p.runtime == self.inner.id);
        let code = match preloaded {
            // Found by `check` (and counted there): this runtime compiled it before, so it is
            // supported.
            Some(Preloaded {
                code: Some(code), ..
            }) => code.clone(),
            _ => {
                require_supported(
                    checked,
                    backend.policy(),
                    backend.capabilities(),
                    backend.name().as_str(),
                )?;
                self.code(checked, key, preloaded.is_none())?
            }
        };
        let providers = self.providers();
        let mut imports = host.bind(checked.info(), &providers)?;
        let used: Providers = providers
            .into_iter()
            .filter(|p| {
                checked
                    .info()
                    .imports
                    .iter()
                    .any(|i| i.module == p.module())
            })
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        imports.retain(|f| seen.insert((f.module.clone(), f.name.clone())));
        let (code, held) = code;
        let compiled =
            match catch_unwind(AssertUnwindSafe(|| backend.link(&code, checked, &imports))) {
                Ok(r) => r?,
                Err(p) => return Err(runtime_panicked(backend.name(), "linking", p.as_ref())),
            };
        Ok(Module {
            runtime: self.clone(),
            compiled,
            checked: checked.clone(),
            code_budget: held,
            providers: used,
        })
    }

    /// Takes the process budget's share for the code of `checked` ([`Backend::code_cost`]).
    fn charge(&self, checked: &CheckedModule) -> Result<Arc<crate::budget::Reservation>, Error> {
        let cost = self.inner.backend.code_cost(checked);
        Ok(Arc::new(crate::budget::reserve(cost)?))
    }

    /// The cache key of the module whose SHA-256 is `sha256` on this runtime.
    fn key_for(&self, sha256: &str) -> CacheKey {
        let inner = &self.inner;
        let backend = &inner.backend;
        let (fingerprint, policy) = inner.fingerprints.get_or_init(|| {
            let fp =
                catch_unwind(AssertUnwindSafe(|| backend.code_fingerprint())).unwrap_or_default();
            (fp, crate::cache::policy_fingerprint(backend.policy()))
        });
        CacheKey::new(
            backend.name().as_str(),
            fingerprint,
            policy,
            sha256.as_bytes(),
        )
    }

    /// The code under `key` from the disk cache, read, authenticated and loaded; `None` when
    /// there is no cache, no entry, or an entry that fails a check (counted and logged).
    fn load(&self, key: &CacheKey) -> Option<B::Code> {
        let inner = &self.inner;
        let backend = &inner.backend;
        let name = backend.name();
        let count = |e| inner.cache_counters.count(e);
        let disk = inner
            .disk_cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        match disk.get(key) {
            Lookup::Found(verified) => {
                match catch_unwind(AssertUnwindSafe(|| backend.deserialize_code(&verified))) {
                    Ok(Ok(code)) => return Some(code),
                    Ok(Err(e)) => {
                        tracing::warn!(runtime = %name, key = ?key, error = %e, "cache entry refused by the runtime; compiling");
                        count(Event::Rejected);
                    }
                    Err(_) => {
                        tracing::warn!(runtime = %name, key = ?key, "the runtime panicked loading a cache entry; compiling");
                        count(Event::Rejected);
                    }
                }
            }
            Lookup::Rejected(why) => {
                tracing::warn!(runtime = %name, key = ?key, why = %why, "cache entry ignored; compiling");
                count(Event::Rejected);
            }
            Lookup::Failed(why) => {
                tracing::warn!(runtime = %name, key = ?key, why = %why, "cache read failed; compiling");
                count(Event::Error);
            }
            Lookup::Absent => {}
        }
        None
    }

    /// The machine code of `checked`: from the memory cache, else (when `disk`) from the disk
    /// cache (read, authenticated, loaded), else compiled (and stored in both); charged to the
    /// process budget before it is loaded or compiled.
    fn code(
        &self,
        checked: &CheckedModule,
        key: CacheKey,
        disk: bool,
    ) -> Result<Charged<B::Code>, Error> {
        let inner = &self.inner;
        let backend = &inner.backend;
        let name = backend.name();
        let count = |e| inner.cache_counters.count(e);
        if let Some((code, _)) = inner.memory_cache.get(&key) {
            count(Event::MemoryHit);
            return Ok(code);
        }
        let held = self.charge(checked)?;
        if let Some(code) = disk.then(|| self.load(&key)).flatten() {
            count(Event::DiskHit);
            let code = (code, held);
            inner
                .memory_cache
                .insert(key, (code.clone(), checked.clone()));
            return Ok(code);
        }
        count(Event::Miss);
        let code = match catch_unwind(AssertUnwindSafe(|| backend.compile_code(checked))) {
            Ok(r) => r?,
            Err(p) => return Err(runtime_panicked(name, "compiling", p.as_ref())),
        };
        let cache = inner
            .disk_cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(disk) = &cache {
            let stored = catch_unwind(AssertUnwindSafe(|| backend.serialize_code(&code)))
                .map_err(|_| "the runtime panicked serializing code".to_owned())
                .and_then(|r| r.map_err(|e| e.to_string()))
                .and_then(|bytes| disk.put(&key, &bytes).map_err(|e| e.to_string()));
            match stored {
                Ok(()) => count(Event::Stored),
                Err(why) => {
                    tracing::warn!(runtime = %name, key = ?key, why = %why, "cache write failed");
                    count(Event::Error);
                }
            }
        }
        let code = (code, held);
        inner
            .memory_cache
            .insert(key, (code.clone(), checked.clone()));
        Ok(code)
    }

    /// Adds an import set this runtime provides (WASI preview 1 from `cage-wasi`, or one of the
    /// application's: see [`crate::provider`]): modules compiled from now on resolve their
    /// imports of its module against it. A provider for a module name already provided replaces
    /// the earlier one.
    pub fn add_provider(&self, provider: Arc<dyn ImportProvider>) {
        let mut p = self
            .inner
            .providers
            .write()
            .unwrap_or_else(|p| p.into_inner());
        p.retain(|q| q.module() != provider.module());
        p.push(provider);
    }

    /// The import sets this runtime provides.
    pub fn providers(&self) -> Vec<Arc<dyn ImportProvider>> {
        self.inner
            .providers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Keeps compiled modules in `cache` too (or stops, with `None`): later compiles of the
    /// same module under the same runtime and code-shaping policy load them instead, also in
    /// other processes that open the same directory with the same key.
    pub fn set_disk_cache(&self, cache: Option<DiskCache>) {
        *self
            .inner
            .disk_cache
            .write()
            .unwrap_or_else(|p| p.into_inner()) = cache;
    }

    /// How many compiled modules this runtime keeps in memory (default
    /// [`crate::cache::DEFAULT_MEMORY_ENTRIES`]; 0 keeps none).
    pub fn set_memory_cache_capacity(&self, entries: usize) {
        self.inner.memory_cache.set_capacity(entries);
    }

    /// What the compiled-module cache did so far.
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache_counters.snapshot()
    }

    /// Makes a new sandbox of `module` (see [`Module::sandbox`]).
    ///
    /// # Errors
    /// As [`Module::sandbox`].
    pub fn sandbox(&self, module: &Module<B>) -> Result<Sandbox<B>, Error> {
        module.sandbox()
    }
}

/// A module compiled by one runtime: make as many sandboxes as needed, on any thread.
pub struct Module<B: Backend> {
    runtime: Runtime<B>,
    compiled: B::Module,
    checked: CheckedModule,
    /// The code's share of the process budget, held by every sandbox of it too.
    code_budget: Arc<crate::budget::Reservation>,
    /// The import providers it imports from.
    providers: Providers,
}

impl<B: Backend> Clone for Module<B> {
    fn clone(&self) -> Self {
        Module {
            runtime: self.runtime.clone(),
            compiled: self.compiled.clone(),
            checked: self.checked.clone(),
            code_budget: self.code_budget.clone(),
            providers: self.providers.clone(),
        }
    }
}

impl<B: Backend> std::fmt::Debug for Module<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("runtime", &self.runtime.name())
            .field("info", self.checked.info())
            .finish_non_exhaustive()
    }
}

impl<B: Backend> Module<B> {
    /// Imports, exports, memories and tables.
    pub fn info(&self) -> &ModuleInfo {
        self.checked.info()
    }

    /// The runtime that compiled it.
    pub fn runtime(&self) -> &Runtime<B> {
        &self.runtime
    }

    /// The backend's compiled module (see [`crate::backend::compiled_of`]).
    pub(crate) fn compiled(&self) -> &B::Module {
        &self.compiled
    }

    /// Makes a new sandbox (one store, one instance to be): no guest code runs yet. Each import
    /// provider the module imports from makes its per-sandbox state (a module that imports WASI
    /// gets a fresh WASI context from the policy's `[wasi]`).
    ///
    /// # Errors
    /// `rejected: limit_exceeded` when `limits.max_instances` sandboxes of this runtime are
    /// alive or the process budget is exhausted; what a provider cannot make its state without
    /// (a preopened directory that cannot be opened: never a sandbox without its preopen); a
    /// host failure when the runtime cannot make a store.
    pub fn sandbox(&self) -> Result<Sandbox<B>, Error> {
        self.make_sandbox(crate::budget::Cost::default())
    }

    /// A new sandbox for the async API on a runtime with [`Capabilities::native_async`]: its
    /// calls run on the application's executor; `None` on other runtimes (core then runs
    /// async sandboxes on guest threads). Its async stack is charged to the process budget
    /// with it ([`Backend::async_stack_cost`]).
    ///
    /// # Errors
    /// As [`Module::sandbox`].
    #[cfg(feature = "async")]
    pub(crate) fn native_async_sandbox(&self) -> Option<Result<Box<dyn DynAsyncSandbox>, Error>> {
        let backend = &self.runtime.inner.backend;
        if !backend.capabilities().native_async {
            return None;
        }
        let sandbox = match self.make_sandbox(backend.async_stack_cost()) {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        B::into_native_async(sandbox).ok().map(Ok)
    }

    /// The common path in one call: a new sandbox, instantiated (segments, initialisers and the
    /// start function run under the policy), ready for calls.
    ///
    /// # Errors
    /// As [`Module::sandbox`] and [`Sandbox::instantiate`].
    pub fn instantiate(&self) -> Result<Sandbox<B>, Error> {
        let mut sandbox = self.make_sandbox(crate::budget::Cost::default())?;
        sandbox.instantiate()?;
        Ok(sandbox)
    }

    /// A new sandbox, charged `extra` besides its [`Backend::sandbox_cost`] (an async
    /// sandbox's stack).
    fn make_sandbox(&self, extra: crate::budget::Cost) -> Result<Sandbox<B>, Error> {
        let inner = &self.runtime.inner;
        let policy = inner.backend.policy();
        let slot = inner.live.acquire(policy.limits.max_instances)?;
        // The process budget, before anything is mapped.
        let reservation =
            crate::budget::reserve(inner.backend.sandbox_cost(&self.checked).plus(extra))?;
        let mut extensions = Extensions::new();
        for p in self.providers.iter() {
            p.prepare_sandbox(policy, &mut extensions)?;
        }
        let name = inner.backend.name();
        let store = match catch_unwind(AssertUnwindSafe(|| {
            inner
                .backend
                .store(&self.compiled, HostState::new(extensions))
        })) {
            Ok(r) => r?,
            Err(p) => return Err(runtime_panicked(name, "making a store", p.as_ref())),
        };
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(Sandbox {
            store,
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            name,
            checked: self.checked.clone(),
            state: Lifecycle::Fresh,
            funcs: Vec::new(),
            fuel: policy.limits.fuel.map(|budget| FuelBook {
                budget,
                per_call: policy.limits.fuel_per_call,
                base: budget,
                spent: 0,
            }),
            _budget: reservation,
            _code_budget: self.code_budget.clone(),
            providers: self.providers.clone(),
            _slot: slot,
        })
    }
}

pub(crate) fn invalid(m: impl Into<String>) -> Error {
    Error::reject(Rejection::InvalidInvocation, m)
}

/// The error for a runtime that panicked: the host's failure. A panic that says the host ran
/// out of a resource (a runtime that unwraps a failed `mmap` or thread-pool build) is
/// `host_failure: resources`, like the same failure returned as an error; any other is a bug
/// to report (`host_failure: runtime`).
pub(crate) fn runtime_panicked(
    runtime: RuntimeName,
    what: &str,
    payload: &(dyn std::any::Any + Send),
) -> Error {
    let message = panic_message(payload);
    match crate::error::exhausted_text(&message) {
        Some(resource) => Error::host(
            HostFailure::Resources,
            format!("{resource}: {runtime} failed while {what} ({message})"),
        ),
        None => Error::host(
            HostFailure::Runtime,
            format!("{runtime} panicked while {what} ({message}); this is a bug to report"),
        ),
    }
}

#[cfg(test)]
mod panic_tests {
    /// The panics the pinned runtimes raise when the host runs out (their messages as written
    /// in wasmtime 48.0.8's `signals.rs` and wasmer-compiler-cranelift 7.3's unwrap of the
    /// rayon pool build) are resources; a panic of another kind is not.
    #[test]
    fn runtime_panics_for_lack_of_resources_are_recognised() {
        use super::runtime_panicked;
        use crate::outcome::{HostFailure, OutcomeClass};
        let name = crate::names::RuntimeName::Wasmtime;
        for (panic, resource) in [
            (
                "failed to allocate memory for sigaltstack: Cannot allocate memory (os error 12)",
                "memory",
            ),
            (
                "called `Result::unwrap()` on an `Err` value: ThreadPoolBuildError { kind: \
                 IOError(Os { code: 11, kind: WouldBlock, message: \"Resource temporarily \
                 unavailable\" }) }",
                "threads",
            ),
        ] {
            let e = runtime_panicked(name, "compiling", &panic.to_owned());
            assert_eq!(e.outcome().class(), OutcomeClass::HostFailure, "{e}");
            assert!(
                matches!(
                    e.outcome(),
                    crate::Outcome::HostFailure(HostFailure::Resources)
                ),
                "{e}"
            );
            assert!(e.to_string().contains(resource), "{e}");
        }
        let e = runtime_panicked(name, "calling", &"index out of bounds");
        assert!(
            matches!(
                e.outcome(),
                crate::Outcome::HostFailure(HostFailure::Runtime)
            ),
            "{e}"
        );
    }
}
