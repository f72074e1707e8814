//! The application API over any backend, written once: [`Runtime`] compiles, [`Module`] makes
//! sandboxes, [`Sandbox`] runs guest code through one lifecycle.
//!
//! A sandbox is *fresh* until [`Sandbox::instantiate`], then *instantiated* (calls allowed), or
//! *failed* (instantiation or the start function trapped: it never runs again, so a retry cannot
//! buy fresh fuel), or *poisoned* (the runtime or a host function panicked). The same rules hold
//! on every backend because they are enforced here, not in the backends.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use crate::backend::{Backend, Store, TypedStore};
use crate::cache::Lookup;
use crate::cache::{CacheKey, CacheStats, Counters, DiskCache, Event, MemoryCache};
use crate::error::Error;
use crate::host::{HostFunctions, panic_message};
use crate::module::{Bodies, CheckedModule, ModuleInfo, check_scan, require_supported};
use crate::names::RuntimeName;
use crate::outcome::{HostFailure, Rejection};
use crate::policy::Policy;
use crate::provider::ImportProvider;
use crate::records::{Capabilities, ExportedState, Output, Stats};
use crate::state::{Extensions, HostState};
use crate::typed::{WasmParams, WasmResults};
use crate::value::{ValType, Value};

/// The live-sandbox count of one runtime, enforcing `limits.max_instances`.
#[derive(Debug, Default)]
struct LiveSandboxes(Arc<AtomicU32>);

/// One live sandbox; dropping it frees the slot.
#[derive(Debug)]
struct LiveSlot(Arc<AtomicU32>);

impl LiveSandboxes {
    fn acquire(&self, max: u32) -> Result<LiveSlot, Error> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|n| {
                Error::reject(
                    Rejection::LimitExceeded,
                    format!("{n} sandboxes are alive, limits.max_instances = {max}"),
                )
            })?;
        Ok(LiveSlot(self.0.clone()))
    }
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
}

/// Compiled code with its share of the process budget ([`Backend::code_cost`]): the share is
/// given back when the last module, sandbox or cache entry holding the code is dropped.
type Charged<C> = (C, Arc<crate::budget::Reservation>);

struct Inner<B: Backend> {
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
type Providers = Arc<[Arc<dyn ImportProvider>]>;

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
    /// A runtime over `backend` (backends offer constructors that call this).
    pub fn from_backend(backend: B) -> Self {
        Runtime {
            inner: Arc::new(Inner {
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
    /// policy and compiles it with its imports bound to `host` (and WASI).
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
            let code = Some(code);
            return Ok(checked.with_preloaded(Arc::new(Preloaded { key, code }), true));
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
                let code = Some(code);
                return Ok(checked.with_preloaded(Arc::new(Preloaded { key, code }), true));
            }
            let code: Option<Charged<B::Code>> = None;
            return Ok(checked.with_preloaded(Arc::new(Preloaded { key, code }), false));
        }
        let checked = check_scan(&binary, policy, Some(sha256), Bodies::Validate)?;
        let code: Option<Charged<B::Code>> = None;
        Ok(checked.with_preloaded(Arc::new(Preloaded { key, code }), false))
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
            .filter(|p| p.key == key);
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
        let inner = &self.runtime.inner;
        let policy = inner.backend.policy();
        let slot = inner.live.acquire(policy.limits.max_instances)?;
        // The process budget, before anything is mapped.
        let reservation = crate::budget::reserve(inner.backend.sandbox_cost(&self.checked))?;
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

/// A backend's handle on an exported function.
type FuncOf<B> = <<B as Backend>::Store as Store>::Func;

/// A handle on an exported function of one sandbox, untyped (see [`Sandbox::func`]).
pub struct Func<B: Backend> {
    name: Arc<str>,
    func: FuncOf<B>,
    params: Arc<[ValType]>,
    results: Arc<[ValType]>,
    sandbox: u64,
}

impl<B: Backend> Clone for Func<B> {
    fn clone(&self) -> Self {
        Func {
            name: self.name.clone(),
            func: self.func.clone(),
            params: self.params.clone(),
            results: self.results.clone(),
            sandbox: self.sandbox,
        }
    }
}

impl<B: Backend> std::fmt::Debug for Func<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Func")
            .field("name", &self.name)
            .field("params", &self.params)
            .field("results", &self.results)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> Func<B> {
    /// The export's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its parameter types.
    pub fn params(&self) -> &[ValType] {
        &self.params
    }

    /// Its result types.
    pub fn results(&self) -> &[ValType] {
        &self.results
    }
}

/// Where a sandbox is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lifecycle {
    /// Made, not instantiated.
    Fresh,
    /// Instantiated and its start function returned: calls are allowed.
    Instantiated,
    /// Instantiation or the start function failed: the sandbox never runs again.
    Failed,
    /// The runtime or a host function panicked.
    Poisoned,
}

/// One store with one instance of one module. Dropping it frees everything and its
/// live-sandbox slot.
///
/// Not `Send` on every backend (Wasmer's store must stay on its thread): make a sandbox on the
/// thread that uses it; the [`Module`] it comes from is `Send + Sync`.
pub struct Sandbox<B: Backend> {
    store: B::Store,
    /// Unique in the process: typed handles remember the sandbox they belong to.
    id: u64,
    name: RuntimeName,
    checked: CheckedModule,
    state: Lifecycle,
    /// Exported functions looked up so far.
    funcs: Vec<Func<B>>,
    /// The fuel account, with metering.
    fuel: Option<FuelBook>,
    /// Returned to the process budget after the store (declared first) is dropped.
    _budget: crate::budget::Reservation,
    /// The code's share, held while the store may run it.
    _code_budget: Arc<crate::budget::Reservation>,
    /// The import providers of its module.
    providers: Providers,
    _slot: LiveSlot,
}

/// A metered sandbox's fuel account: what was consumed before the last refuelling, and the fuel
/// it left the sandbox with.
#[derive(Clone, Copy, Debug)]
struct FuelBook {
    /// `limits.fuel`.
    budget: u64,
    /// Every call starts with `budget` (`limits.fuel_per_call`).
    per_call: bool,
    /// Fuel left right after the last refuelling (initially `budget`).
    base: u64,
    /// Consumed before the last refuelling.
    spent: u64,
}

impl<B: Backend> std::fmt::Debug for Sandbox<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("runtime", &self.name)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

fn invalid(m: impl Into<String>) -> Error {
    Error::reject(Rejection::InvalidInvocation, m)
}

/// The error for a runtime that panicked: the host's failure (a bug to report).
fn runtime_panicked(
    runtime: RuntimeName,
    what: &str,
    payload: &(dyn std::any::Any + Send),
) -> Error {
    Error::host(
        HostFailure::Runtime,
        format!(
            "{runtime} panicked while {what} ({}); this is a bug to report",
            panic_message(payload)
        ),
    )
}

impl<B: Backend> Sandbox<B> {
    /// Runs `f` on the store, containing panics: a runtime that panics poisons this sandbox,
    /// and so does a host function that panicked during `f`.
    fn guarded<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut B::Store) -> Result<T, Error>,
    ) -> Result<T, Error> {
        match self.state {
            Lifecycle::Poisoned => {
                return Err(invalid(
                    "this sandbox was poisoned by a panic (of the runtime or a host function); \
                     make a new one",
                ));
            }
            Lifecycle::Failed => {
                return Err(invalid(
                    "instantiation failed in this sandbox; make a new one",
                ));
            }
            Lifecycle::Fresh | Lifecycle::Instantiated => {}
        }
        let result = catch_unwind(AssertUnwindSafe(|| f(&mut self.store)));
        match result {
            Ok(Ok(v)) => Ok(v),
            // A host function that panicked poisoned the state and failed the call.
            Ok(Err(e)) => {
                if self.store.host_state().is_poisoned() {
                    self.state = Lifecycle::Poisoned;
                }
                Err(e)
            }
            Err(p) => {
                self.state = Lifecycle::Poisoned;
                Err(runtime_panicked(self.name, what, p.as_ref()))
            }
        }
    }

    /// Instantiates the module: data and element segments, then the start function, under the
    /// fuel budget and deadline. A sandbox instantiates at most once: after a failure it is
    /// refused (a retry would start over with fresh fuel).
    ///
    /// # Errors
    /// Traps (including in the start function), an exit from a WASI start function, host
    /// failures; `rejected: invalid_invocation` after a failed attempt or a panic.
    pub fn instantiate(&mut self) -> Result<(), Error> {
        if self.state == Lifecycle::Instantiated {
            return Ok(());
        }
        self.observed("(instantiate)", Self::instantiate_inner)
    }

    fn instantiate_inner(&mut self) -> Result<(), Error> {
        let start = self.checked.start_export().map(str::to_owned);
        let result = self.guarded("instantiating", |store| {
            store.instantiate()?;
            if let Some(start) = &start {
                let f = store.func(start).ok_or_else(|| {
                    Error::host(
                        HostFailure::Runtime,
                        "the detached start function is not exported",
                    )
                })?;
                store.call(&f, &[], &mut [])?;
            }
            Ok(())
        });
        if self.state != Lifecycle::Poisoned {
            self.state = match result {
                Ok(()) => Lifecycle::Instantiated,
                Err(_) => Lifecycle::Failed,
            };
        }
        result
    }

    /// Runs one call into the guest inside a `cage.call` span, recording its metrics when they
    /// are on (see [`crate::telemetry`]).
    #[inline]
    fn observed<T>(
        &mut self,
        export: &str,
        f: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let span = tracing::info_span!(
            "cage.call",
            runtime = %self.name,
            module = %crate::telemetry::module_label(&self.checked.info().sha256),
            export
        );
        let _entered = span.enter();
        if !crate::telemetry::metrics_enabled() {
            return f(self);
        }
        let fuel_before = self.stats().fuel_consumed;
        let start = std::time::Instant::now();
        let result = f(self);
        let wall = start.elapsed();
        let stats = self.stats();
        crate::telemetry::record(&crate::telemetry::CallRecord {
            runtime: self.name,
            module: &self.checked.info().sha256,
            result: result.as_ref().map(|_| ()),
            fuel: stats
                .fuel_consumed
                .map(|f| f.saturating_sub(fuel_before.unwrap_or(0))),
            wall,
            peak_memory: stats.peak_memory_bytes,
        });
        result
    }

    /// Checks that the sandbox can run guest code.
    #[inline]
    fn runnable(&mut self) -> Result<(), Error> {
        match self.state {
            Lifecycle::Instantiated => Ok(()),
            Lifecycle::Fresh => Err(invalid("the sandbox is not instantiated")),
            // `guarded` explains which.
            Lifecycle::Failed | Lifecycle::Poisoned => {
                self.guarded("calling", |_| unreachable_state())
            }
        }
    }

    /// The exported function `export`, resolved once (cached by name): its index in the cache.
    fn resolve_index(&mut self, export: &str) -> Result<usize, Error> {
        self.runnable()?;
        if let Some(i) = self.funcs.iter().position(|f| &*f.name == export) {
            return Ok(i);
        }
        let ty = self.checked.info().export_func(export).ok_or_else(|| {
            let funcs: Vec<&str> = self
                .checked
                .info()
                .exports
                .iter()
                .filter(|e| e.ty.kind() == "func")
                .map(|e| e.name.as_str())
                .collect();
            invalid(format!(
                "no exported function `{export}` (exported functions: {})",
                funcs.join(", ")
            ))
        })?;
        let (params, results): (Arc<[ValType]>, Arc<[ValType]>) =
            (ty.params.clone().into(), ty.results.clone().into());
        let func = self
            .store
            .func(export)
            .ok_or_else(|| invalid(format!("no exported function `{export}`")))?;
        self.funcs.push(Func {
            name: export.into(),
            func,
            params,
            results,
            sandbox: self.id,
        });
        Ok(self.funcs.len() - 1)
    }

    /// A handle on the exported function `export`: resolved and checked once, then called with
    /// [`Sandbox::call_func`] without a name lookup or an allocation.
    ///
    /// # Errors
    /// `rejected: invalid_invocation` for a missing export or a sandbox that cannot run.
    pub fn func(&mut self, export: &str) -> Result<Func<B>, Error> {
        let i = self.resolve_index(export)?;
        Ok(self.funcs[i].clone())
    }

    /// Calls the function `f` (of this sandbox) with `args`, writing its results into
    /// `results` (cleared first): the untyped call with no lookup and no allocation once
    /// `results` has grown to size.
    ///
    /// # Errors
    /// As [`Sandbox::call`]; `rejected: invalid_invocation` for a handle of another sandbox.
    #[inline]
    pub fn call_func(
        &mut self,
        f: &Func<B>,
        args: &[Value],
        results: &mut Vec<Value>,
    ) -> Result<(), Error> {
        if f.sandbox != self.id {
            return Err(invalid(
                "a function handle is called on the sandbox it was made from",
            ));
        }
        self.runnable()?;
        if args.len() != f.params.len()
            || args.iter().zip(f.params.iter()).any(|(a, t)| a.ty() != *t)
        {
            let list = |v: &mut dyn Iterator<Item = String>| v.collect::<Vec<_>>().join(", ");
            return Err(invalid(format!(
                "`{}` takes ({}), got ({})",
                f.name,
                list(&mut f.params.iter().map(ToString::to_string)),
                list(&mut args.iter().map(|a| a.ty().to_string()))
            )));
        }
        results.clear();
        results.extend(f.results.iter().map(|t| Value::default_for(*t)));
        self.observed(&f.name, |s| {
            s.refuel_for_call()?;
            s.guarded("calling", |store| store.call(&f.func, args, results))
        })
    }

    /// Calls the exported function `export` under the fuel budget and deadline.
    ///
    /// # Errors
    /// Traps, WASI exits, host failures; `rejected: invalid_invocation` for a missing export,
    /// a non-function, wrong arguments, or a sandbox that is not instantiated (or failed, or
    /// was poisoned).
    pub fn call(&mut self, export: &str, args: &[Value]) -> Result<Vec<Value>, Error> {
        let i = self.resolve_index(export)?;
        let f = &self.funcs[i];
        check_arguments(&f.name, &f.params, args)?;
        let mut results: Vec<Value> = f.results.iter().map(|t| Value::default_for(*t)).collect();
        let func = f.func.clone();
        let name = f.name.clone();
        self.observed(&name, |s| {
            s.refuel_for_call()?;
            s.guarded("calling", |store| store.call(&func, args, &mut results))
        })?;
        Ok(results)
    }

    /// A typed handle on the exported function `export`, whose signature must be exactly
    /// `P -> R`: resolved and checked once, then called with [`TypedFunc::call`] at the
    /// runtime's typed-call speed, under the same fuel, deadline and trap classification as
    /// [`Sandbox::call`].
    ///
    /// # Errors
    /// `rejected: invalid_invocation` for a missing export, another signature, or a sandbox
    /// that is not instantiated.
    pub fn typed<P: WasmParams, R: WasmResults>(
        &mut self,
        export: &str,
    ) -> Result<TypedFunc<B, P, R>, Error>
    where
        B::Store: TypedStore<P, R>,
    {
        match self.state {
            Lifecycle::Instantiated => {}
            Lifecycle::Fresh => return Err(invalid("the sandbox is not instantiated")),
            Lifecycle::Failed | Lifecycle::Poisoned => {
                return self.guarded("calling", |_| unreachable_state());
            }
        }
        let ty = self
            .checked
            .info()
            .export_func(export)
            .ok_or_else(|| invalid(format!("no exported function `{export}`")))?;
        if ty.params != P::TYPES || ty.results != R::TYPES {
            let list = |v: &[ValType]| {
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(invalid(format!(
                "`{export}` has type {ty}, not ({}) -> ({})",
                list(P::TYPES),
                list(R::TYPES)
            )));
        }
        let func = self
            .store
            .func(export)
            .ok_or_else(|| invalid(format!("no exported function `{export}`")))?;
        let typed = self.guarded("resolving a typed function", |s| s.typed(&func))?;
        Ok(TypedFunc {
            typed,
            name: export.into(),
            sandbox: self.id,
            _signature: std::marker::PhantomData,
        })
    }

    /// Fuel and memory counters (valid in every state).
    pub fn stats(&mut self) -> Stats {
        let mut stats = self.store.stats();
        if let (Some(book), Lifecycle::Instantiated) = (self.fuel, self.state)
            && let Some(left) = self.store.fuel()
        {
            stats.fuel_consumed = Some(book.spent.saturating_add(book.base.saturating_sub(left)));
        }
        stats
    }

    /// Fuel left for the sandbox's next calls; `None` without metering or before
    /// instantiation.
    pub fn fuel_remaining(&mut self) -> Option<u64> {
        match (self.fuel, self.state) {
            (Some(_), Lifecycle::Instantiated) => self.store.fuel(),
            _ => None,
        }
    }

    /// Sets the fuel left for the sandbox's next calls to `fuel` (between calls; also after an
    /// `out_of_fuel` trap, which leaves the sandbox usable). `fuel_consumed` keeps counting:
    /// it is everything consumed, across refuellings. Identical on every runtime.
    ///
    /// # Errors
    /// `rejected: invalid_invocation` without metering (`limits.fuel`), before a successful
    /// instantiation, or above [`crate::policy::MAX_FUEL`]; host failures.
    pub fn set_fuel(&mut self, fuel: u64) -> Result<(), Error> {
        let Some(mut book) = self.fuel else {
            return Err(invalid("the policy has no fuel budget (limits.fuel)"));
        };
        if fuel > crate::policy::MAX_FUEL {
            return Err(invalid(format!(
                "{fuel} fuel is above {}, the largest budget every runtime represents",
                crate::policy::MAX_FUEL
            )));
        }
        if self.state != Lifecycle::Instantiated {
            return Err(invalid("fuel can be set once the sandbox is instantiated"));
        }
        let left = self.store.fuel().unwrap_or(0);
        book.spent = book.spent.saturating_add(book.base.saturating_sub(left));
        book.base = fuel;
        self.store.set_fuel(fuel)?;
        self.fuel = Some(book);
        Ok(())
    }

    /// Adds `fuel` to what is left (saturating at [`crate::policy::MAX_FUEL`]); see
    /// [`Sandbox::set_fuel`].
    ///
    /// # Errors
    /// As [`Sandbox::set_fuel`].
    pub fn add_fuel(&mut self, fuel: u64) -> Result<(), Error> {
        let left = match (self.fuel, self.state) {
            (Some(_), Lifecycle::Instantiated) => self.store.fuel().unwrap_or(0),
            _ => 0,
        };
        self.set_fuel(left.saturating_add(fuel).min(crate::policy::MAX_FUEL))
    }

    /// With `limits.fuel_per_call`, gives the call about to start the whole budget.
    #[inline]
    fn refuel_for_call(&mut self) -> Result<(), Error> {
        match self.fuel {
            Some(book) if book.per_call && self.state == Lifecycle::Instantiated => {
                self.set_fuel(book.budget)
            }
            _ => Ok(()),
        }
    }

    /// The exported globals and memories of the instance: empty unless instantiated (an
    /// instance whose start function trapped has no observable exports).
    pub fn exported_state(&mut self) -> ExportedState {
        match self.state {
            Lifecycle::Instantiated => self.store.exported_state(),
            _ => ExportedState::default(),
        }
    }

    /// Takes the output captured so far by the module's import providers (WASI's stdout and
    /// stderr; empty for a module that imports none that captures output).
    pub fn take_output(&mut self) -> Output {
        let ext = &mut self.store.host_state().extensions;
        self.providers
            .iter()
            .find_map(|p| p.take_output(ext))
            .unwrap_or_default()
    }

    /// Gives this sandbox a value of type `T`, which its host functions reach with
    /// [`crate::HostContext`]'s `data::<T>()`: per-sandbox host state, typed, on every runtime.
    /// Returns the value of the same type it replaces.
    pub fn set_data<T: std::any::Any + Send>(&mut self, value: T) -> Option<T> {
        self.store.host_state().extensions.insert(value)
    }

    /// The sandbox's value of type `T`.
    pub fn data<T: std::any::Any + Send>(&mut self) -> Option<&mut T> {
        self.store.host_state().extensions.get_mut::<T>()
    }

    /// The runtime's name.
    pub fn runtime_name(&self) -> RuntimeName {
        self.name
    }

    /// The backend's store (see [`crate::backend::store_of`]).
    pub(crate) fn store(&mut self) -> &mut B::Store {
        &mut self.store
    }
}

/// A typed handle on an exported function of one sandbox (see [`Sandbox::typed`]).
pub struct TypedFunc<B: Backend, P: WasmParams, R: WasmResults>
where
    B::Store: TypedStore<P, R>,
{
    typed: <B::Store as TypedStore<P, R>>::Typed,
    /// The export's name (for spans and metrics).
    name: Arc<str>,
    sandbox: u64,
    _signature: std::marker::PhantomData<fn(P) -> R>,
}

impl<B: Backend, P: WasmParams, R: WasmResults> Clone for TypedFunc<B, P, R>
where
    B::Store: TypedStore<P, R>,
{
    fn clone(&self) -> Self {
        TypedFunc {
            typed: self.typed.clone(),
            name: self.name.clone(),
            sandbox: self.sandbox,
            _signature: std::marker::PhantomData,
        }
    }
}

impl<B: Backend, P: WasmParams, R: WasmResults> std::fmt::Debug for TypedFunc<B, P, R>
where
    B::Store: TypedStore<P, R>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedFunc")
            .field("sandbox", &self.sandbox)
            .finish_non_exhaustive()
    }
}

impl<B: Backend, P: WasmParams, R: WasmResults> TypedFunc<B, P, R>
where
    B::Store: TypedStore<P, R>,
{
    /// Calls the function in `sandbox` (the one it was made from) with `args`.
    ///
    /// # Errors
    /// As [`Sandbox::call`]; `rejected: invalid_invocation` for another sandbox.
    #[inline]
    pub fn call(&self, sandbox: &mut Sandbox<B>, args: P) -> Result<R, Error> {
        if sandbox.id != self.sandbox {
            return Err(invalid(
                "a typed function is called on the sandbox it was made from",
            ));
        }
        sandbox.observed(&self.name, |sb| {
            sb.refuel_for_call()?;
            sb.guarded("calling", |s| s.call_typed(&self.typed, args))
        })
    }
}

/// Checks `args` against the parameter types of the function `name`.
#[inline]
fn check_arguments(name: &str, params: &[ValType], args: &[Value]) -> Result<(), Error> {
    if args.len() == params.len() && args.iter().zip(params).all(|(a, t)| a.ty() == *t) {
        return Ok(());
    }
    let list = |v: &mut dyn Iterator<Item = String>| v.collect::<Vec<_>>().join(", ");
    Err(invalid(format!(
        "`{name}` takes ({}), got ({})",
        list(&mut params.iter().map(ToString::to_string)),
        list(&mut args.iter().map(|a| a.ty().to_string()))
    )))
}

fn unreachable_state<T>() -> Result<T, Error> {
    Err(invalid("this sandbox cannot run"))
}

/// The object-safe face of a [`Runtime`], for code that picks runtimes by name at run time.
pub trait DynRuntime: Send + Sync {
    /// See [`Runtime::name`].
    fn name(&self) -> RuntimeName;
    /// See [`Runtime::capabilities`].
    fn capabilities(&self) -> &Capabilities;
    /// See [`Runtime::policy`].
    fn policy(&self) -> &Policy;
    /// See [`Runtime::compile_checked`].
    ///
    /// # Errors
    /// As [`Runtime::compile_checked`].
    fn compile_dyn(
        &self,
        module: &CheckedModule,
        host: &HostFunctions,
    ) -> Result<Box<dyn DynModule>, Error>;
    /// See [`Runtime::check`].
    ///
    /// # Errors
    /// As [`Runtime::check`].
    fn check(&self, bytes: &[u8]) -> Result<CheckedModule, Error>;
    /// Checks `bytes` and compiles them with `host` (and the runtime's import providers): see
    /// [`Runtime::compile`].
    ///
    /// # Errors
    /// As [`Runtime::compile`].
    fn compile(&self, bytes: &[u8], host: &HostFunctions) -> Result<Box<dyn DynModule>, Error> {
        let checked = self.check(bytes)?;
        self.compile_dyn(&checked, host)
    }
    /// See [`Runtime::set_disk_cache`].
    fn set_disk_cache(&self, cache: Option<DiskCache>);
    /// See [`Runtime::set_memory_cache_capacity`].
    fn set_memory_cache_capacity(&self, entries: usize);
    /// See [`Runtime::cache_stats`].
    fn cache_stats(&self) -> CacheStats;
    /// See [`Runtime::add_provider`].
    fn add_provider(&self, provider: Arc<dyn ImportProvider>);
    /// See [`Runtime::providers`].
    fn providers(&self) -> Vec<Arc<dyn ImportProvider>>;
}

/// A compiled module behind a [`DynRuntime`].
pub trait DynModule: Send + Sync {
    /// See [`Module::sandbox`].
    ///
    /// # Errors
    /// As [`Module::sandbox`].
    fn sandbox(&self) -> Result<Box<dyn DynSandbox>, Error>;
    /// See [`Module::info`].
    fn info(&self) -> &ModuleInfo;
}

/// A sandbox behind a [`DynModule`].
pub trait DynSandbox {
    /// See [`Sandbox::instantiate`].
    ///
    /// # Errors
    /// As [`Sandbox::instantiate`].
    fn instantiate(&mut self) -> Result<(), Error>;
    /// See [`Sandbox::call`].
    ///
    /// # Errors
    /// As [`Sandbox::call`].
    fn call(&mut self, export: &str, args: &[Value]) -> Result<Vec<Value>, Error>;
    /// See [`Sandbox::stats`].
    fn stats(&mut self) -> Stats;
    /// See [`Sandbox::exported_state`].
    fn exported_state(&mut self) -> ExportedState;
    /// See [`Sandbox::take_output`].
    fn take_output(&mut self) -> Output;
    /// The sandbox's host state (typed extensions), for per-sandbox data.
    fn extensions(&mut self) -> &mut Extensions;
    /// See [`Sandbox::fuel_remaining`].
    fn fuel_remaining(&mut self) -> Option<u64>;
    /// See [`Sandbox::set_fuel`].
    ///
    /// # Errors
    /// As [`Sandbox::set_fuel`].
    fn set_fuel(&mut self, fuel: u64) -> Result<(), Error>;
    /// See [`Sandbox::add_fuel`].
    ///
    /// # Errors
    /// As [`Sandbox::add_fuel`].
    fn add_fuel(&mut self, fuel: u64) -> Result<(), Error>;
}

impl<B: Backend> DynRuntime for Runtime<B> {
    fn name(&self) -> RuntimeName {
        Runtime::name(self)
    }
    fn capabilities(&self) -> &Capabilities {
        Runtime::capabilities(self)
    }
    fn policy(&self) -> &Policy {
        Runtime::policy(self)
    }
    fn compile_dyn(
        &self,
        module: &CheckedModule,
        host: &HostFunctions,
    ) -> Result<Box<dyn DynModule>, Error> {
        Ok(Box::new(self.compile_checked(module, host)?))
    }
    fn check(&self, bytes: &[u8]) -> Result<CheckedModule, Error> {
        Runtime::check(self, bytes)
    }
    fn set_disk_cache(&self, cache: Option<DiskCache>) {
        Runtime::set_disk_cache(self, cache);
    }
    fn set_memory_cache_capacity(&self, entries: usize) {
        Runtime::set_memory_cache_capacity(self, entries);
    }
    fn cache_stats(&self) -> CacheStats {
        Runtime::cache_stats(self)
    }
    fn add_provider(&self, provider: Arc<dyn ImportProvider>) {
        Runtime::add_provider(self, provider);
    }
    fn providers(&self) -> Vec<Arc<dyn ImportProvider>> {
        Runtime::providers(self)
    }
}

impl<B: Backend> DynModule for Module<B> {
    fn sandbox(&self) -> Result<Box<dyn DynSandbox>, Error> {
        Ok(Box::new(Module::sandbox(self)?))
    }
    fn info(&self) -> &ModuleInfo {
        Module::info(self)
    }
}

impl<B: Backend> DynSandbox for Sandbox<B> {
    fn instantiate(&mut self) -> Result<(), Error> {
        Sandbox::instantiate(self)
    }
    fn call(&mut self, export: &str, args: &[Value]) -> Result<Vec<Value>, Error> {
        Sandbox::call(self, export, args)
    }
    fn stats(&mut self) -> Stats {
        Sandbox::stats(self)
    }
    fn exported_state(&mut self) -> ExportedState {
        Sandbox::exported_state(self)
    }
    fn take_output(&mut self) -> Output {
        Sandbox::take_output(self)
    }
    fn extensions(&mut self) -> &mut Extensions {
        &mut self.store.host_state().extensions
    }
    fn fuel_remaining(&mut self) -> Option<u64> {
        Sandbox::fuel_remaining(self)
    }
    fn set_fuel(&mut self, fuel: u64) -> Result<(), Error> {
        Sandbox::set_fuel(self, fuel)
    }
    fn add_fuel(&mut self, fuel: u64) -> Result<(), Error> {
        Sandbox::add_fuel(self, fuel)
    }
}
