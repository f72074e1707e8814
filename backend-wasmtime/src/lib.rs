//! Cage backend for [Wasmtime](https://wasmtime.dev): runtime name `wasmtime`.
//!
//! How each policy setting is enforced:
//!
//! | policy | Wasmtime mechanism |
//! |---|---|
//! | `fuel` | `Config::consume_fuel`, `Config::operator_cost` from core's [`CostModel`], `Store::set_fuel` |
//! | `timeout` | `Config::epoch_interruption`, one ticker thread per engine, per-store `set_epoch_deadline` |
//! | `max_memory`, `max_table_elements`, `trap_on_grow_failure` | Cage's `ResourceLimiter` |
//! | `max_memories`, `max_tables` | core's static check, and the limiter's counts |
//! | `max_instances` | a live-sandbox counter per runtime |
//! | `max_stack` | `Config::max_wasm_stack` |
//! | `[features]` | `Config::wasm_features`; `threads` also gates `Config::shared_memory` |
//!
//! Every `wasmtime::Trap` maps onto Cage's taxonomy (see `convert.rs`).

#![warn(missing_docs)]

mod convert;
mod host;
mod limiter;
mod ticker;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use cage_core::{
    Capabilities, CheckedModule, CostModel, Error, Features, HostFunctions, LiveSandboxes,
    LiveSlot, Policy, PolicyError, Rejection, Runtime, Sandbox, Stats, Trap, Value,
    runtime_panicked,
};
use wasmtime::{Config, Engine, InstancePre, Linker, OptLevel, Store, Val, WasmFeatures};

use crate::convert::{classify, from_val, to_val};
use crate::limiter::Limiter;
use crate::ticker::Ticker;

/// Per-store state.
pub(crate) struct StoreData {
    limiter: Limiter,
    /// Cage's WASI state; present exactly when the module imports WASI.
    pub(crate) wasi: Option<cage_core::wasi::WasiCtx>,
    /// When the current call must end.
    pub(crate) deadline: Option<std::time::Instant>,
}

/// The proposals this backend can run: WebAssembly 3.0 plus wide arithmetic and custom page
/// sizes. (Stack switching needs a Wasmtime build feature Cage does not enable.)
pub fn supported_features() -> Features {
    Features::from_wasmparser(
        WasmFeatures::WASM3 | WasmFeatures::WIDE_ARITHMETIC | WasmFeatures::CUSTOM_PAGE_SIZES,
    )
}

macro_rules! operator_costs {
    ($(@$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        /// Wasmtime's cost table filled from core's cost model.
        fn operator_cost(model: &CostModel) -> wasmtime::OperatorCost {
            let mut c = wasmtime::OperatorCost::new();
            $( c.$op = model.cost_by_name(stringify!($op)); )*
            let v = &model.variable;
            c.variable.memory_copy_per_byte = v.memory_copy_per_byte;
            c.variable.memory_fill_per_byte = v.memory_fill_per_byte;
            c.variable.memory_init_per_byte = v.memory_init_per_byte;
            c.variable.memory_grow_per_page = v.memory_grow_per_page;
            c.variable.table_copy_per_element = v.table_copy_per_element;
            c.variable.table_fill_per_element = v.table_fill_per_element;
            c.variable.table_init_per_element = v.table_init_per_element;
            c.variable.table_grow_per_element = v.table_grow_per_element;
            c.variable.array_copy_per_element = v.array_copy_per_element;
            c.variable.array_fill_per_element = v.array_fill_per_element;
            c.variable.array_new_data_per_element = v.array_new_data_per_element;
            c.variable.array_init_data_per_element = v.array_init_data_per_element;
            c.variable.array_new_elem_per_element = v.array_new_elem_per_element;
            c.variable.array_init_elem_per_element = v.array_init_elem_per_element;
            c.variable.array_new_default_per_element = v.array_new_default_per_element;
            c.variable.array_new_per_element = v.array_new_per_element;
            c
        }
    };
}
wasmparser::for_each_operator!(operator_costs);

fn config(policy: &Policy) -> Config {
    let l = &policy.limits;
    let mut c = Config::new();
    c.cranelift_opt_level(OptLevel::Speed);
    c.parallel_compilation(true);
    c.consume_fuel(l.fuel.is_some());
    if l.fuel.is_some() && !policy.costs.is_default() {
        c.operator_cost(operator_cost(&policy.costs));
    }
    c.epoch_interruption(l.timeout.is_some());
    let stack = usize::try_from(l.max_stack.bytes()).unwrap_or(usize::MAX);
    c.max_wasm_stack(stack);
    // Wasmtime insists the async stack be at least as large even when, as here, nothing runs
    // asynchronously; it is reserved only for async calls.
    c.async_stack_size(stack.saturating_add(cage_core::HOST_STACK_MARGIN));
    let enabled = policy.features.to_wasmparser() & supported_features().to_wasmparser();
    c.wasm_features(WasmFeatures::all(), false);
    c.wasm_features(enabled, true);
    c.shared_memory(enabled.contains(WasmFeatures::THREADS));
    // Relaxed SIMD gives the same answers on every host, so runtimes can be compared.
    c.relaxed_simd_deterministic(true);
    c
}

/// Wasmtime configured by one policy. Cheap to share: compile once, make many sandboxes.
pub struct WasmtimeRuntime {
    engine: Engine,
    policy: Policy,
    capabilities: Capabilities,
    ticker: Option<Arc<Ticker>>,
    live: LiveSandboxes,
}

impl WasmtimeRuntime {
    /// The runtime name.
    pub const NAME: &'static str = "wasmtime";

    /// Builds an engine for `policy`.
    ///
    /// # Errors
    /// An invalid policy, or a combination Wasmtime refuses (the error says which).
    pub fn new(policy: &Policy) -> Result<Self, PolicyError> {
        policy.validate()?;
        policy.check_host_dirs()?;
        let engine = Engine::new(&config(policy))
            .map_err(|e| PolicyError::Invalid(format!("wasmtime refuses this policy: {e:#}")))?;
        let ticker = match policy.limits.timeout {
            Some(t) => Some(Arc::new(Ticker::start(&engine, t).map_err(|e| {
                PolicyError::Invalid(format!("cannot start the deadline thread: {e}"))
            })?)),
            None => None,
        };
        Ok(WasmtimeRuntime {
            engine,
            policy: policy.clone(),
            capabilities: Capabilities {
                features: supported_features(),
                wasi: true,
            },
            ticker,
            live: LiveSandboxes::default(),
        })
    }

    /// The underlying engine, for embedders that need more than Cage offers.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// A module compiled by Wasmtime with its imports bound.
#[derive(Clone)]
pub struct WasmtimeModule {
    pre: InstancePre<StoreData>,
    start: Option<Arc<str>>,
    wasi: bool,
}

impl Runtime for WasmtimeRuntime {
    type Module = WasmtimeModule;
    type Sandbox = WasmtimeSandbox;

    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn compile(
        &self,
        module: &CheckedModule,
        host: &HostFunctions,
    ) -> Result<WasmtimeModule, Error> {
        let compiled = catch_unwind(AssertUnwindSafe(|| {
            wasmtime::Module::new(&self.engine, module.runnable_bytes())
        }))
        .map_err(|_| runtime_panicked("wasmtime", "compiling"))?
        .map_err(|e| {
            Error::reject(
                Rejection::Unsupported,
                format!("wasmtime cannot compile this module: {e:#}"),
            )
        })?;
        let mut linker = Linker::new(&self.engine);
        let metered = self.policy.limits.fuel.is_some();
        let mut defined = std::collections::BTreeSet::new();
        for f in host.bind(module.info(), self.capabilities.wasi)? {
            if !defined.insert((f.module.clone(), f.name.clone())) {
                continue;
            }
            host::define(&mut linker, &f, metered).map_err(|e| {
                Error::reject(
                    Rejection::UnresolvedImport,
                    format!("cannot define {}.{}: {e:#}", f.module, f.name),
                )
            })?;
        }
        let wasi = module.info().imports_wasi();
        let pre = linker
            .instantiate_pre(&compiled)
            .map_err(|e| Error::reject(Rejection::UnresolvedImport, format!("{e:#}")))?;
        Ok(WasmtimeModule {
            pre,
            start: module.start_export().map(Arc::from),
            wasi,
        })
    }

    fn sandbox(&self, module: &WasmtimeModule) -> Result<WasmtimeSandbox, Error> {
        let slot = self.live.acquire(self.policy.limits.max_instances)?;
        let l = &self.policy.limits;
        let wasi = if module.wasi {
            Some(
                cage_core::wasi::WasiCtx::new(&self.policy)
                    .map_err(|e| Error::reject(Rejection::InvalidInvocation, e.to_string()))?,
            )
        } else {
            None
        };
        let mut store = Store::new(
            &self.engine,
            StoreData {
                limiter: Limiter::new(l),
                wasi,
                deadline: None,
            },
        );
        store.limiter(|d| &mut d.limiter);
        if l.fuel.is_some() {
            // Instantiation (segments, initialisers) is not guest code and is not metered: the
            // budget is set right before the start function runs (see `instantiate`).
            store
                .set_fuel(u64::MAX)
                .map_err(|e| Error::trap(Trap::Other, format!("cannot set fuel: {e}")))?;
        }
        if l.timeout.is_some() {
            store.epoch_deadline_trap();
        }
        Ok(WasmtimeSandbox {
            store,
            pre: module.pre.clone(),
            start: module.start.clone(),
            instance: None,
            funcs: Vec::new(),
            fuel: l.fuel,
            timeout: l.timeout.zip(self.ticker.clone()),
            poisoned: false,
            attempted: false,
            _slot: slot,
        })
    }
}

/// One Wasmtime store with one instance.
pub struct WasmtimeSandbox {
    store: Store<StoreData>,
    pre: InstancePre<StoreData>,
    start: Option<Arc<str>>,
    instance: Option<wasmtime::Instance>,
    fuel: Option<u64>,
    timeout: Option<(Duration, Arc<Ticker>)>,
    poisoned: bool,
    /// Set once instantiation has been tried: a sandbox instantiates at most once.
    attempted: bool,
    /// Exported functions looked up so far, with their signatures.
    funcs: Vec<(Box<str>, wasmtime::Func, wasmtime::FuncType)>,
    _slot: LiveSlot,
}

impl WasmtimeSandbox {
    /// Starts the deadline for one call; the guard keeps the ticker running.
    fn arm(&mut self) -> Option<ticker::Active> {
        let (timeout, ticker) = self.timeout.as_ref()?;
        self.store.set_epoch_deadline(ticker.ticks(*timeout));
        self.store.data_mut().deadline = Some(std::time::Instant::now() + *timeout);
        Some(ticker.activate())
    }

    fn guard(&self) -> Result<(), Error> {
        if self.poisoned {
            return Err(Error::reject(
                Rejection::InvalidInvocation,
                "this sandbox was poisoned by a runtime panic",
            ));
        }
        Ok(())
    }
}

fn not_ready(m: String) -> Error {
    Error::reject(Rejection::InvalidInvocation, m)
}

impl Sandbox for WasmtimeSandbox {
    fn instantiate(&mut self) -> Result<(), Error> {
        self.guard()?;
        if self.instance.is_some() {
            return Ok(());
        }
        if self.attempted {
            // Instantiating again in the same store would start over with a fresh budget.
            return Err(not_ready(
                "instantiation failed in this sandbox; make a new one".into(),
            ));
        }
        self.attempted = true;
        let _active = self.arm();
        let fuel = self.fuel;
        let result = catch_unwind(AssertUnwindSafe(
            || -> wasmtime::Result<wasmtime::Instance> {
                let instance = self.pre.instantiate(&mut self.store)?;
                if let Some(f) = fuel {
                    self.store.set_fuel(f)?;
                }
                if let Some(start) = &self.start {
                    let f = instance.get_typed_func::<(), ()>(&mut self.store, start)?;
                    self.instance = Some(instance);
                    f.call(&mut self.store, ())?;
                }
                Ok(instance)
            },
        ));
        match result {
            Ok(Ok(i)) => {
                self.instance = Some(i);
                Ok(())
            }
            Ok(Err(e)) => {
                // A trap in the start function leaves no usable instance.
                self.instance = None;
                Err(classify(&e))
            }
            Err(_) => {
                self.poisoned = true;
                Err(runtime_panicked("wasmtime", "instantiating"))
            }
        }
    }

    fn call(&mut self, export: &str, args: &[Value]) -> Result<Vec<Value>, Error> {
        self.guard()?;
        let instance = self
            .instance
            .ok_or_else(|| not_ready("the sandbox is not instantiated".into()))?;
        // Export lookups and signatures are cached per sandbox: a plugin host calls the same
        // exports again and again.
        let (func, ty) = match self.funcs.iter().find(|(n, _, _)| &**n == export) {
            Some((_, f, t)) => (*f, t.clone()),
            None => {
                let func = instance
                    .get_func(&mut self.store, export)
                    .ok_or_else(|| not_ready(format!("no exported function `{export}`")))?;
                let ty = func.ty(&self.store);
                self.funcs.push((export.into(), func, ty.clone()));
                (func, ty)
            }
        };
        if ty.params().len() != args.len() {
            return Err(not_ready(format!(
                "`{export}` takes {} arguments, got {}",
                ty.params().len(),
                args.len()
            )));
        }
        let mut params = Vec::with_capacity(args.len());
        for (a, t) in args.iter().zip(ty.params()) {
            let v = to_val(&mut self.store, a)?;
            if !v.matches_ty(&self.store, &t).unwrap_or(false) {
                return Err(not_ready(format!(
                    "argument {a} does not match parameter type {t}"
                )));
            }
            params.push(v);
        }
        let mut results = vec![Val::I32(0); ty.results().len()];
        let _active = self.arm();
        let result = catch_unwind(AssertUnwindSafe(|| {
            func.call(&mut self.store, &params, &mut results)
        }));
        match result {
            Ok(Ok(())) => Ok(results
                .iter()
                .map(|v| from_val(&mut self.store, v))
                .collect()),
            Ok(Err(e)) => Err(classify(&e)),
            Err(_) => {
                self.poisoned = true;
                Err(runtime_panicked("wasmtime", "calling"))
            }
        }
    }

    fn exported_state(&mut self) -> cage_core::ExportedState {
        let mut state = cage_core::ExportedState::default();
        let Some(instance) = self.instance else {
            return state;
        };
        let exports: Vec<(String, wasmtime::Extern)> = instance
            .exports(&mut self.store)
            .map(|e| (e.name().to_owned(), e.into_extern()))
            .collect();
        for (name, ext) in exports {
            match ext {
                wasmtime::Extern::Global(g) => {
                    let v = g.get(&mut self.store);
                    let v = from_val(&mut self.store, &v);
                    state.globals.push((name, v));
                }
                wasmtime::Extern::Memory(m) => state.push_memory(&name, m.data(&self.store)),
                // Shared memories are left out (see `ExportedState`).
                _ => {}
            }
        }
        state
    }

    fn take_output(&mut self) -> cage_core::Output {
        self.store
            .data_mut()
            .wasi
            .as_mut()
            .map(cage_core::wasi::WasiCtx::take_output)
            .unwrap_or_default()
    }

    fn stats(&mut self) -> Stats {
        Stats {
            fuel_consumed: self
                .fuel
                .map(|f| f.saturating_sub(self.store.get_fuel().unwrap_or(0))),
            peak_memory_bytes: self.store.data().limiter.peak_memory_bytes,
        }
    }
}
