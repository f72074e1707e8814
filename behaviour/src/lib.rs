//! The behaviour suite every backend must pass: one public function per behaviour that
//! conformance case files cannot express (deadline precision and isolation, sandbox reuse and
//! lifecycle, the live-sandbox cap, host closures and their panics, per-sandbox data, hostile
//! bytes, exact fuel, WASI), each taking a [`Target`]: a [`Factory`] that builds the runtime
//! under test and the [`Mode`] its guests run in.
//!
//! **Both modes, one suite.** With the `async` feature every behaviour also runs in
//! [`Mode::Async`]: its sandboxes are `AsyncSandbox`es and its runs `run_async`, awaited on a
//! 2-thread tokio runtime (on Wasmtime, guests on fibers; on Wasmer, on guest threads), against
//! the same assertions, exact fuel included. So the sync and async paths give identical
//! outcomes and fuel on every runtime, or a test fails.
//!
//! A backend's own tests call [`all`] once per runtime it provides (so `cargo test -p
//! cage-wasmer` proves the Wasmer backend alone: its metering, tunables, watchdog and WASI);
//! allowed differences are parameters here, never silent skips. The factory gives runtimes with
//! Cage's WASI provider ([`with_wasi`] adds it). A test-support package: backends' tests depend
//! on it, no library does.
//!
//! Why one file over 800 lines: it is the suite's list, one function per behaviour, each read
//! on its own; splitting it would only spread the list.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use cage_core::{
    DynRuntime, Error, FuncType, HostError, HostFunc, HostFunctions, Invocation, Outcome, Policy,
    Rejection, Report, Trap, ValType, Value,
};

/// Builds the runtime under test for a policy.
pub type Factory<'a> = dyn Fn(&Policy) -> Result<Box<dyn DynRuntime>, Error> + Sync + 'a;

/// `runtime` with Cage's WASI preview 1 provider added.
///
/// # Errors
/// As [`cage_wasi::provider_for`].
pub fn with_wasi(runtime: Box<dyn DynRuntime>) -> Result<Box<dyn DynRuntime>, Error> {
    runtime.add_provider(cage_wasi::provider_for(runtime.policy())?);
    Ok(runtime)
}

/// One behaviour: its name and the test.
#[derive(Clone, Copy, Debug)]
pub struct Behaviour {
    /// The behaviour's name (the test function's).
    pub name: &'static str,
    /// Runs the behaviour against a runtime; panics on failure.
    pub run: fn(&Target<'_>),
}

macro_rules! behaviours {
    ($($f:ident),* $(,)?) => {
        /// Every behaviour of the suite (with the `async` feature, also those of async host
        /// functions, which run in both modes too).
        pub fn all() -> Vec<Behaviour> {
            #[allow(unused_mut)]
            let mut v = vec![$(Behaviour { name: stringify!($f), run: $f },)*];
            #[cfg(feature = "async")]
            v.push(Behaviour {
                name: "async_host_functions_resume_the_guest_or_are_refused_by_sync_calls",
                run: async_host_functions_resume_the_guest_or_are_refused_by_sync_calls,
            });
            v
        }
    };
}

behaviours!(
    deadline_stops_a_loop_near_the_deadline,
    deadlines_are_per_call_and_per_sandbox,
    deadlines_stop_guests_that_mostly_run_host_code,
    a_host_call_that_returns_past_the_deadline_ends_the_call_timeout,
    deadlines_hold_with_many_guests_at_once,
    fuel_stops_a_loop_with_the_exact_budget,
    refuelling_and_per_call_budgets_count_every_unit,
    fuel_budgets_at_the_edges_of_u64_are_exact_or_refused,
    compile_once_instantiate_many_with_fresh_state,
    live_sandbox_cap_is_enforced_and_released,
    host_closures_see_memory_state_and_fuel,
    host_result_of_the_wrong_type_is_a_host_error,
    a_panicking_host_function_is_a_host_error_and_poisons_only_its_sandbox,
    host_functions_reach_typed_per_sandbox_data,
    hostile_bytes_never_panic,
    data_segment_bomb_is_rejected_or_compiled_without_panic,
    br_table_past_the_cage_limit_is_rejected,
    deep_guest_stack_traps_instead_of_crashing,
    calls_on_an_uninstantiated_or_wrong_export_are_rejected,
    fuel_matches_the_cost_model_exactly,
    a_failed_start_cannot_be_retried_for_fresh_fuel,
    a_failed_instantiation_cannot_be_retried,
    exported_state_shows_globals_and_memory_and_nothing_after_a_failed_start,
    memory_caps_hold_and_grow_failures_can_trap,
    peak_table_size_is_reported,
    memories_reserved_at_max_memory_behave_the_same,
    wasi_preopens_output_and_read_only_directories,
    wasi_calls_cost_the_documented_fuel,
);

fn wasm(text: &str) -> Vec<u8> {
    cage_core::module::to_binary(text.as_bytes()).expect("test module must parse")
}

/// How the behaviours' guests are called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `Sandbox::call` and `cage_core::run`, on the calling thread (or a guest thread).
    Sync,
    /// `AsyncSandbox` and `run_async`, awaited on a 2-thread tokio runtime.
    #[cfg(feature = "async")]
    Async,
}

impl Mode {
    /// Every mode this build has, for a backend's tests to run the suite in each.
    pub fn all() -> &'static [Mode] {
        &[
            Mode::Sync,
            #[cfg(feature = "async")]
            Mode::Async,
        ]
    }

    /// A suffix for test names: empty for sync, `::async` for async.
    pub fn suffix(self) -> &'static str {
        match self {
            Mode::Sync => "",
            #[cfg(feature = "async")]
            Mode::Async => "::async",
        }
    }
}

/// What a behaviour runs against: the runtime's factory and the mode its guests run in.
pub struct Target<'a> {
    make: &'a Factory<'a>,
    mode: Mode,
    #[cfg(feature = "async")]
    executor: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("mode", &self.mode).finish()
    }
}

impl<'a> Target<'a> {
    /// The runtimes `make` builds, their guests run in `mode`.
    ///
    /// # Panics
    /// When the async mode's tokio runtime cannot start.
    pub fn new(make: &'a Factory<'a>, mode: Mode) -> Self {
        Target {
            make,
            mode,
            #[cfg(feature = "async")]
            executor: (mode == Mode::Async).then(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("behaviour-executor")
                    .build()
                    .expect("a tokio runtime")
            }),
        }
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The async mode's executor.
    #[cfg(feature = "async")]
    fn handle(&self) -> tokio::runtime::Handle {
        self.executor
            .as_ref()
            .expect("an async target has an executor")
            .handle()
            .clone()
    }

    /// `run_async` spawned on the executor, so that it runs on an executor thread as a
    /// server's would.
    #[cfg(feature = "async")]
    fn spawn_run(
        &self,
        runtime: &Arc<dyn DynRuntime>,
        bytes: &[u8],
        host: &HostFunctions,
        inv: &Invocation,
    ) -> tokio::task::JoinHandle<Report> {
        self.handle().spawn(cage_core::async_api::run_async(
            runtime.clone(),
            bytes.to_vec(),
            host.clone(),
            inv.clone(),
        ))
    }

    /// A sandbox of `module` in this target's mode.
    fn sandbox(&self, module: &dyn cage_core::DynModule) -> Result<Sb, Error> {
        match self.mode {
            Mode::Sync => module.sandbox().map(Sb::Sync),
            #[cfg(feature = "async")]
            Mode::Async => {
                let handle = self.handle();
                let sb = handle.block_on(cage_core::async_api::AsyncSandbox::new(module))?;
                Ok(Sb::Async(Box::new(sb), handle))
            }
        }
    }

    /// `cage_core::run` in this target's mode: on a guest thread sized for the policy (sync)
    /// or `run_async` awaited on the executor (async).
    fn run(
        &self,
        runtime: &Arc<dyn DynRuntime>,
        policy: &Policy,
        bytes: &[u8],
        host: &HostFunctions,
        inv: &Invocation,
    ) -> Report {
        match self.mode {
            Mode::Sync => cage_core::on_guest_thread(policy, || {
                cage_core::run(runtime.as_ref(), bytes, host, inv)
            })
            .expect("a guest thread"),
            #[cfg(feature = "async")]
            Mode::Async => {
                let handle = self.handle();
                handle
                    .block_on(self.spawn_run(runtime, bytes, host, inv))
                    .expect("no panic")
            }
        }
    }

    /// Many runs at once: sync, each on a guest thread of its own; async, all spawned on the
    /// 2-thread executor. The reports in order.
    fn run_many(
        &self,
        runtime: &Arc<dyn DynRuntime>,
        policy: &Policy,
        bytes: &[u8],
        host: &HostFunctions,
        inv: &Invocation,
        n: usize,
    ) -> Vec<Report> {
        match self.mode {
            Mode::Sync => std::thread::scope(|s| {
                let handles: Vec<_> = (0..n)
                    .map(|_| s.spawn(|| self.run(runtime, policy, bytes, host, inv)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("no panic"))
                    .collect()
            }),
            #[cfg(feature = "async")]
            Mode::Async => {
                let handle = self.handle();
                let tasks: Vec<_> = (0..n)
                    .map(|_| self.spawn_run(runtime, bytes, host, inv))
                    .collect();
                tasks
                    .into_iter()
                    .map(|t| handle.block_on(t).expect("no panic"))
                    .collect()
            }
        }
    }
}

/// A sandbox in either mode, with the sync sandbox's methods (the async ones awaited).
enum Sb {
    Sync(Box<dyn cage_core::DynSandbox>),
    #[cfg(feature = "async")]
    Async(
        Box<cage_core::async_api::AsyncSandbox>,
        tokio::runtime::Handle,
    ),
}

impl Sb {
    fn instantiate(&mut self) -> Result<(), Error> {
        match self {
            Sb::Sync(s) => s.instantiate(),
            #[cfg(feature = "async")]
            Sb::Async(s, h) => h.block_on(s.instantiate()),
        }
    }
    fn call(&mut self, export: &str, args: &[Value]) -> Result<Vec<Value>, Error> {
        match self {
            Sb::Sync(s) => s.call(export, args),
            #[cfg(feature = "async")]
            Sb::Async(s, h) => h.block_on(s.call(export, args)),
        }
    }
    fn stats(&mut self) -> cage_core::Stats {
        match self {
            Sb::Sync(s) => s.stats(),
            #[cfg(feature = "async")]
            Sb::Async(s, h) => h.block_on(s.stats()).expect("stats"),
        }
    }
    fn exported_state(&mut self) -> cage_core::ExportedState {
        match self {
            Sb::Sync(s) => s.exported_state(),
            #[cfg(feature = "async")]
            Sb::Async(s, h) => h.block_on(s.exported_state()).expect("exported state"),
        }
    }
    fn fuel_remaining(&mut self) -> Option<u64> {
        match self {
            Sb::Sync(s) => s.fuel_remaining(),
            #[cfg(feature = "async")]
            Sb::Async(s, h) => h.block_on(s.fuel_remaining()).expect("fuel"),
        }
    }
    fn set_fuel(&mut self, fuel: u64) -> Result<(), Error> {
        match self {
            Sb::Sync(s) => s.set_fuel(fuel),
            #[cfg(feature = "async")]
            Sb::Async(s, h) => h.block_on(s.set_fuel(fuel)),
        }
    }
    fn add_fuel(&mut self, fuel: u64) -> Result<(), Error> {
        match self {
            Sb::Sync(s) => s.add_fuel(fuel),
            #[cfg(feature = "async")]
            Sb::Async(s, h) => h.block_on(s.add_fuel(fuel)),
        }
    }
    /// Runs `f` with the sandbox's application data.
    fn with_extensions<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut cage_core::Extensions) -> T + Send + 'static,
    ) -> T {
        match self {
            Sb::Sync(s) => f(s.extensions()),
            #[cfg(feature = "async")]
            Sb::Async(s, h) => h.block_on(s.with_extensions(f)).expect("extensions"),
        }
    }
}

fn make(rt: &Target<'_>, policy: &Policy) -> Box<dyn DynRuntime> {
    (rt.make)(policy).unwrap_or_else(|e| panic!("cannot build the runtime: {e}"))
}

/// Runs `export` of `text` with `args` on a guest thread sized for the policy.
fn run(rt: &Target<'_>, policy: &Policy, text: &str, export: &str, args: &[Value]) -> Report {
    run_with(
        rt,
        policy,
        &wasm(text),
        &HostFunctions::new(),
        Invocation::call(export, args.to_vec()),
    )
}

fn run_with(
    rt: &Target<'_>,
    policy: &Policy,
    bytes: &[u8],
    host: &HostFunctions,
    inv: Invocation,
) -> Report {
    let r: Arc<dyn DynRuntime> = Arc::from(make(rt, policy));
    rt.run(&r, policy, bytes, host, &inv)
}

const SPIN: &str = r#"(module (func (export "spin") (loop br 0)))"#;

/// Tests that a 200 ms deadline stops `(loop br 0)` after at least 200 ms and soon after.
pub fn deadline_stops_a_loop_near_the_deadline(rt: &Target<'_>) {
    let policy = Policy::default().with_timeout(Some(Duration::from_millis(200)));
    let r = run(rt, &policy, SPIN, "spin", &[]);
    assert_eq!(r.outcome(), Outcome::Trapped(Trap::Timeout), "{r:?}");
    assert!(
        r.wall_ms >= 195.0,
        "stopped before the deadline: {} ms",
        r.wall_ms
    );
    // Generous for a loaded 2-core CI machine; the benchmarks report the real overshoot.
    assert!(
        r.wall_ms <= 600.0,
        "stopped far past the deadline: {} ms",
        r.wall_ms
    );
}

/// Tests that deadlines hold under load: 32 guests spinning at once (on however few cores) under
/// a 100 ms deadline all stop, none early, none absurdly late (the deadline is judged by the wall
/// clock, not by counted ticks that a busy machine delays).
pub fn deadlines_hold_with_many_guests_at_once(rt: &Target<'_>) {
    let policy = Policy::default().with_timeout(Some(Duration::from_millis(100)));
    let runtime: Arc<dyn DynRuntime> = Arc::from(make(rt, &policy));
    let bytes = wasm(SPIN);
    let reports = rt.run_many(
        &runtime,
        &policy,
        &bytes,
        &HostFunctions::new(),
        &Invocation::call("spin", []),
        32,
    );
    let walls: Vec<f64> = reports
        .iter()
        .map(|r| {
            assert_eq!(r.outcome(), Outcome::Trapped(Trap::Timeout), "{r:?}");
            r.wall_ms
        })
        .collect();
    for w in &walls {
        assert!(*w >= 95.0, "stopped early: {w} ms");
        // Generous: 32 spinning threads on a 2-core CI machine; the README gives the figures.
        assert!(*w <= 1_000.0, "stopped absurdly late: {w} ms");
    }
}

/// Tests that deadlines stop guests that spend their time in host code (a host function that
/// allocates, in a loop) and guests whose only loop is recursion, many times over, without the
/// process hanging: a deadline must never interrupt the host in the middle of its own code
/// (Wasmer's signal-based interrupts could land in `malloc` and deadlock).
pub fn deadlines_stop_guests_that_mostly_run_host_code(rt: &Target<'_>) {
    let policy = Policy::default().with_timeout(Some(Duration::from_millis(5)));
    let host = HostFunctions::new().with(HostFunc::new(
        "env",
        "churn",
        FuncType::new([ValType::I32], [ValType::I32]),
        |_, args| {
            let n = match args {
                [Value::I32(n)] => *n,
                _ => 0,
            };
            // Allocate and free, so the guest thread is often inside the allocator.
            let v: Vec<Vec<u8>> = (0..16).map(|i| vec![i as u8; 64 + i]).collect();
            Ok(vec![Value::I32(n.wrapping_add(v.len() as i32))])
        },
    ));
    let looping = wasm(
        r#"(module (import "env" "churn" (func $c (param i32) (result i32)))
            (func (export "run") (local i32)
              (loop (local.set 0 (call $c (local.get 0))) (br 0))))"#,
    );
    let recursing = wasm(
        r#"(module (import "env" "churn" (func $c (param i32) (result i32)))
            (func $f (export "run") (drop (call $c (i32.const 1))) (call $f)))"#,
    );
    let runtime: Arc<dyn DynRuntime> = Arc::from(make(rt, &policy));
    for (what, bytes) in [("a loop", &looping), ("recursion", &recursing)] {
        for i in 0..40 {
            let r = rt.run(
                &runtime,
                &policy,
                bytes,
                &host,
                &Invocation::call("run", []),
            );
            // Recursion may overflow the stack before the deadline: both stop it.
            let o = r.outcome();
            assert!(
                o == Outcome::Trapped(Trap::Timeout)
                    || (what == "recursion" && o == Outcome::Trapped(Trap::StackOverflow)),
                "{what}, run {i}: {r:?}"
            );
        }
    }
}

/// Tests refuelling: fuel left, set and added between calls (also after `out_of_fuel`), and the
/// per-call budget mode; `fuel_consumed` totals everything consumed, identically everywhere.
pub fn refuelling_and_per_call_budgets_count_every_unit(rt: &Target<'_>) {
    let text = r#"(module
        (func (export "work") (param i32) (result i32)
          (loop $l (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
                   (br_if $l (local.get 0)))
          (local.get 0))
        (func (export "spin") (loop br 0)))"#;
    let bytes = wasm(text);
    let host = HostFunctions::new();
    let sandbox = |policy: &Policy| {
        let runtime = make(rt, policy);
        let checked = cage_core::prepare(runtime.as_ref(), &bytes, &host, &Invocation::Instantiate)
            .expect("prepare");
        let module = runtime.compile_dyn(&checked, &host).expect("compile");
        let mut sb = rt.sandbox(module.as_ref()).expect("sandbox");
        assert_eq!(sb.fuel_remaining(), None, "nothing before instantiation");
        let e = sb.set_fuel(1).unwrap_err();
        assert_eq!(
            e.as_rejection(),
            Some(Rejection::InvalidInvocation),
            "{e:?}"
        );
        sb.instantiate().expect("instantiate");
        sb
    };
    let consumed = |sb: &mut Sb| sb.stats().fuel_consumed.unwrap();

    let mut sb = sandbox(&Policy::default().with_fuel(Some(10_000)));
    assert_eq!(sb.fuel_remaining(), Some(10_000));
    sb.call("work", &[Value::I32(10)]).unwrap();
    let c1 = consumed(&mut sb);
    assert!(c1 > 10 && c1 < 200, "{c1}");
    assert_eq!(sb.fuel_remaining(), Some(10_000 - c1));
    let e = sb.call("spin", &[]).unwrap_err();
    assert_eq!(e.as_trap(), Some(Trap::OutOfFuel));
    assert_eq!(consumed(&mut sb), 10_000);
    assert_eq!(sb.fuel_remaining(), Some(0));
    // Out of fuel is not the end: add some and go on.
    sb.add_fuel(5_000).unwrap();
    assert_eq!(sb.fuel_remaining(), Some(5_000));
    assert_eq!(sb.call("work", &[Value::I32(10)]).unwrap(), [Value::I32(0)]);
    assert_eq!(consumed(&mut sb), 10_000 + c1);
    sb.set_fuel(3).unwrap();
    let e = sb.call("work", &[Value::I32(10)]).unwrap_err();
    assert_eq!(e.as_trap(), Some(Trap::OutOfFuel));
    assert_eq!(consumed(&mut sb), 10_000 + c1 + 3);

    // Per call: every call gets the whole budget, the total still counts.
    let mut policy = Policy::default().with_fuel(Some(1_000));
    policy.limits.fuel_per_call = true;
    let mut sb = sandbox(&policy);
    let e = sb.call("spin", &[]).unwrap_err();
    assert_eq!(e.as_trap(), Some(Trap::OutOfFuel));
    assert_eq!(sb.call("work", &[Value::I32(10)]).unwrap(), [Value::I32(0)]);
    assert_eq!(consumed(&mut sb), 1_000 + c1);
    assert_eq!(sb.fuel_remaining(), Some(1_000 - c1));

    // Without metering there is nothing to set; per-call budgets need a budget.
    let mut sb = sandbox(&Policy::default().with_fuel(None));
    let e = sb.add_fuel(1).unwrap_err();
    assert_eq!(
        e.as_rejection(),
        Some(Rejection::InvalidInvocation),
        "{e:?}"
    );
    let mut bad = Policy::default().with_fuel(None);
    bad.limits.fuel_per_call = true;
    assert!(bad.validate().is_err());
}

/// Budgets at and around `i64::MAX` and `u64::MAX`. Every budget up to
/// [`cage_core::policy::MAX_FUEL`] (`i64::MAX`) is represented exactly: a call costs what it
/// costs under a small budget, and the fuel left is the budget minus that. A budget above it is
/// refused when the policy is validated (making the runtime), with a message naming the largest
/// budget; `set_fuel` above it is refused and `add_fuel` saturates at it. The same on every
/// runtime (Wasmer's metering counts in a signed 64-bit global, so no runtime takes more).
pub fn fuel_budgets_at_the_edges_of_u64_are_exact_or_refused(rt: &Target<'_>) {
    let text = r#"(module
        (func (export "work") (param i32) (result i32)
          (loop $l (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
                   (br_if $l (local.get 0)))
          (local.get 0)))"#;
    let bytes = wasm(text);
    let host = HostFunctions::new();
    let max = cage_core::policy::MAX_FUEL;
    assert_eq!(max, i64::MAX as u64);
    let sandbox = |policy: &Policy| {
        let runtime = make(rt, policy);
        let checked = cage_core::prepare(runtime.as_ref(), &bytes, &host, &Invocation::Instantiate)
            .expect("prepare");
        let module = runtime.compile_dyn(&checked, &host).expect("compile");
        let mut sb = rt.sandbox(module.as_ref()).expect("sandbox");
        sb.instantiate().expect("instantiate");
        sb
    };
    let mut small = sandbox(&Policy::default().with_fuel(Some(1_000_000)));
    small.call("work", &[Value::I32(100)]).unwrap();
    let cost = small.stats().fuel_consumed.unwrap();
    assert!(cost > 100, "{cost}");

    for budget in [max - 1, max] {
        let mut sb = sandbox(&Policy::default().with_fuel(Some(budget)));
        assert_eq!(sb.fuel_remaining(), Some(budget));
        sb.call("work", &[Value::I32(100)]).unwrap();
        assert_eq!(sb.stats().fuel_consumed, Some(cost), "budget {budget}");
        assert_eq!(sb.fuel_remaining(), Some(budget - cost), "budget {budget}");
        // Topping up saturates at the largest budget; setting above it is refused.
        sb.add_fuel(u64::MAX).unwrap();
        assert_eq!(sb.fuel_remaining(), Some(max));
        let e = sb.set_fuel(max + 1).unwrap_err();
        assert_eq!(
            e.as_rejection(),
            Some(Rejection::InvalidInvocation),
            "{e:?}"
        );
        assert_eq!(
            sb.fuel_remaining(),
            Some(max),
            "a refused set changes nothing"
        );
        sb.set_fuel(max).unwrap();
        sb.call("work", &[Value::I32(100)]).unwrap();
        assert_eq!(sb.fuel_remaining(), Some(max - cost));
    }
    for budget in [max + 1, u64::MAX - 1, u64::MAX] {
        let policy = Policy::default().with_fuel(Some(budget));
        let e = policy.validate().unwrap_err().to_string();
        assert!(
            e.contains("limits.fuel") && e.contains(&max.to_string()),
            "{e}"
        );
        let made = (rt.make)(&policy);
        let e = made
            .err()
            .expect("a runtime with a budget above MAX_FUEL is refused");
        assert!(e.to_string().contains("limits.fuel"), "{e}");
    }
}

/// Tests that a host function which returns after the call's deadline ends the call
/// `trapped: timeout` when it returns, even when the guest would return at once afterwards
/// (no loop, no function entry left to check the deadline): the deadline covers host calls.
/// The same host function returning in time lets the guest return its value.
pub fn a_host_call_that_returns_past_the_deadline_ends_the_call_timeout(rt: &Target<'_>) {
    let policy = Policy::default().with_timeout(Some(Duration::from_millis(50)));
    let host = HostFunctions::new().with(HostFunc::new(
        "env",
        "wait",
        FuncType::new([ValType::I32], []),
        |_, args| {
            if let [Value::I32(ms)] = args {
                std::thread::sleep(Duration::from_millis(u64::from(ms.unsigned_abs())));
            }
            Ok(vec![])
        },
    ));
    let bytes = wasm(
        r#"(module (import "env" "wait" (func $w (param i32)))
            (func (export "run") (param i32) (result i32)
              (call $w (local.get 0)) (i32.const 42)))"#,
    );
    let runtime: Arc<dyn DynRuntime> = Arc::from(make(rt, &policy));
    let started = Instant::now();
    let late = rt.run(
        &runtime,
        &policy,
        &bytes,
        &host,
        &Invocation::call("run", [Value::I32(150)]),
    );
    let took = started.elapsed();
    assert_eq!(late.outcome(), Outcome::Trapped(Trap::Timeout), "{late:?}");
    assert!(took >= Duration::from_millis(150), "{took:?}");
    let in_time = rt.run(
        &runtime,
        &policy,
        &bytes,
        &host,
        &Invocation::call("run", [Value::I32(1)]),
    );
    assert_eq!(
        in_time.outcome(),
        Outcome::Returned(vec![Value::I32(42)]),
        "{in_time:?}"
    );
}

/// Tests that a sandbox's deadline counts from its own call: a call started while another
/// sandbox of the same runtime is spinning still gets its whole timeout.
pub fn deadlines_are_per_call_and_per_sandbox(rt: &Target<'_>) {
    let policy = Policy::default().with_timeout(Some(Duration::from_millis(300)));
    let runtime: Arc<dyn DynRuntime> = Arc::from(make(rt, &policy));
    let bytes = wasm(SPIN);
    let checked = cage_core::check(&bytes, &policy).unwrap();
    let module = runtime
        .compile_dyn(&checked, &HostFunctions::new())
        .unwrap();
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let first = s.spawn(|| {
            let mut sb = rt.sandbox(module.as_ref()).unwrap();
            sb.instantiate().unwrap();
            barrier.wait();
            let t = Instant::now();
            let e = sb.call("spin", &[]).unwrap_err();
            (e, t.elapsed())
        });
        barrier.wait();
        std::thread::sleep(Duration::from_millis(150));
        let mut sb = rt.sandbox(module.as_ref()).unwrap();
        sb.instantiate().unwrap();
        let t = Instant::now();
        let e = sb.call("spin", &[]).unwrap_err();
        let second = t.elapsed();
        let (e1, first) = first.join().unwrap();
        for e in [&e, &e1] {
            assert!(
                matches!(
                    e,
                    Error::Trapped {
                        trap: Trap::Timeout,
                        ..
                    }
                ),
                "{e:?}"
            );
        }
        assert!(first >= Duration::from_millis(295), "first call: {first:?}");
        assert!(
            second >= Duration::from_millis(295),
            "the second call was cut short: {second:?}"
        );
    });
}

/// Tests that fuel stops an endless loop having consumed exactly the budget.
pub fn fuel_stops_a_loop_with_the_exact_budget(rt: &Target<'_>) {
    for fuel in [0, 1, 1000, 100_000] {
        let r = run(
            rt,
            &Policy::default().with_fuel(Some(fuel)),
            SPIN,
            "spin",
            &[],
        );
        assert_eq!(
            r.outcome(),
            Outcome::Trapped(Trap::OutOfFuel),
            "fuel {fuel}: {r:?}"
        );
        assert_eq!(r.fuel_consumed, Some(fuel));
    }
}

/// Tests that one compiled module makes many sandboxes, each with its own fresh state.
pub fn compile_once_instantiate_many_with_fresh_state(rt: &Target<'_>) {
    let policy = Policy::default().with_fuel(Some(1_000));
    let runtime = make(rt, &policy);
    let text = r#"(module (global $g (mut i32) (i32.const 0)) (memory (export "memory") 1)
        (func (export "bump") (result i32)
          (global.set $g (i32.add (global.get $g) (i32.const 1)))
          (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
          (i32.add (global.get $g) (i32.load (i32.const 0)))))"#;
    let checked = cage_core::check(&wasm(text), &policy).unwrap();
    let module = runtime
        .compile_dyn(&checked, &HostFunctions::new())
        .unwrap();
    for _ in 0..50 {
        let mut sb = rt.sandbox(module.as_ref()).unwrap();
        sb.instantiate().unwrap();
        assert_eq!(sb.call("bump", &[]).unwrap(), [Value::I32(2)]);
        assert_eq!(sb.call("bump", &[]).unwrap(), [Value::I32(4)]);
        let used = sb.stats().fuel_consumed.unwrap();
        assert!(used > 0 && used < 1_000, "fuel is per sandbox: {used}");
    }
}

/// Tests that `max_instances` caps live sandboxes and that dropping one frees its slot.
pub fn live_sandbox_cap_is_enforced_and_released(rt: &Target<'_>) {
    let mut policy = Policy::default();
    policy.limits.max_instances = 2;
    let runtime = make(rt, &policy);
    let checked = cage_core::check(&wasm("(module)"), &policy).unwrap();
    let module = runtime
        .compile_dyn(&checked, &HostFunctions::new())
        .unwrap();
    let a = rt.sandbox(module.as_ref()).unwrap();
    let _b = rt.sandbox(module.as_ref()).unwrap();
    let e = rt
        .sandbox(module.as_ref())
        .err()
        .expect("a third live sandbox must be refused");
    assert!(
        matches!(
            e,
            Error::Rejected {
                rejection: Rejection::LimitExceeded,
                ..
            }
        ),
        "{e:?}"
    );
    drop(a);
    rt.sandbox(module.as_ref()).expect("a slot is free again");
}

/// Tests host closures: state captured by the closure, memory copies both ways, fuel charged
/// per call and by `consume_fuel`, errors trapping with their message.
pub fn host_closures_see_memory_state_and_fuel(rt: &Target<'_>) {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let host = HostFunctions::new()
        .with(
            HostFunc::new(
                "env",
                "upper",
                FuncType::new([ValType::I32, ValType::I32], [ValType::I32]),
                move |cx, a| {
                    c.fetch_add(1, Ordering::SeqCst);
                    let (Value::I32(p), Value::I32(n)) = (a[0], a[1]) else {
                        return Err(HostError::new("bad args"));
                    };
                    let mut buf = cx.read_vec(p as u64, n as u64)?;
                    buf.make_ascii_uppercase();
                    cx.write(p as u64, &buf)?;
                    cx.consume_fuel(10)?;
                    Ok(vec![Value::I32(buf.len() as i32)])
                },
            )
            .with_fuel_cost(100),
        )
        .with(HostFunc::new(
            "env",
            "boom",
            FuncType::new([], []),
            |_, _| Err(HostError::new("boom from the host")),
        ));
    let text = r#"(module
        (import "env" "upper" (func $upper (param i32 i32) (result i32)))
        (import "env" "boom" (func $boom))
        (memory (export "memory") 1)
        (data (i32.const 16) "hello")
        (func (export "go") (result i32 i32) (call $upper (i32.const 16) (i32.const 5)) (i32.load8_u (i32.const 16)))
        (func (export "fail") (call $boom)))"#;
    let policy = Policy::default().with_fuel(Some(10_000));
    let r = run_with(rt, &policy, &wasm(text), &host, Invocation::call("go", []));
    assert_eq!(
        r.outcome(),
        Outcome::Returned(vec![Value::I32(5), Value::I32(b'H' as i32)]),
        "{r:?}"
    );
    let fuel = r.fuel_consumed.unwrap();
    assert!(fuel > 110, "host costs charged: {fuel}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let r = run_with(
        rt,
        &policy,
        &wasm(text),
        &host,
        Invocation::call("fail", []),
    );
    assert_eq!(r.outcome(), Outcome::Trapped(Trap::HostError));
    assert!(
        r.message
            .as_deref()
            .unwrap_or("")
            .contains("boom from the host"),
        "{r:?}"
    );
}

/// Tests that a host function returning values of the wrong type traps `host_error`.
pub fn host_result_of_the_wrong_type_is_a_host_error(rt: &Target<'_>) {
    let host = HostFunctions::new().with(HostFunc::new(
        "env",
        "f",
        FuncType::new([], [ValType::I32]),
        |_, _| Ok(vec![Value::I64(1)]),
    ));
    let text = r#"(module (import "env" "f" (func $f (result i32))) (func (export "go") (result i32) (call $f)))"#;
    let r = run_with(
        rt,
        &Policy::default(),
        &wasm(text),
        &host,
        Invocation::call("go", []),
    );
    assert_eq!(r.outcome(), Outcome::Trapped(Trap::HostError), "{r:?}");
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Tests that random bytes and randomly mutated valid modules are rejected or run, and never
/// panic, abort or hang the host.
pub fn hostile_bytes_never_panic(rt: &Target<'_>) {
    let policy = Policy::default().with_fuel(Some(100_000));
    let runtime: Arc<dyn DynRuntime> = Arc::from(make(rt, &policy));
    let seed = wasm(
        r#"(module (memory 1) (table 2 funcref) (global (mut i32) (i32.const 0))
        (func $f (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
        (elem (i32.const 0) $f)
        (func (export "run") (result i32) (local i32)
          (loop (local.set 0 (call $f (local.get 0))) (br_if 0 (i32.lt_u (local.get 0) (i32.const 10))))
          (i32.store (i32.const 8) (local.get 0)) (i32.load (i32.const 8))))"#,
    );
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ran = 0;
    for i in 0..600 {
        let bytes = if i % 3 == 0 {
            let len = (rng.next() % 200) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if i % 2 == 0 && b.len() >= 8 {
                b[..8].copy_from_slice(b"\0asm\x01\0\0\0");
            }
            b
        } else {
            let mut b = seed.clone();
            for _ in 0..1 + rng.next() % 4 {
                let at = 8 + (rng.next() as usize) % (b.len() - 8);
                b[at] = rng.next() as u8;
            }
            b
        };
        let r = rt.run(
            &runtime,
            &policy,
            &bytes,
            &HostFunctions::new(),
            &Invocation::call("run", []),
        );
        assert_ne!(
            r.trap,
            Some(Trap::Other),
            "unclassified trap for {bytes:?}: {r:?}"
        );
        if matches!(r.outcome(), Outcome::Returned(_) | Outcome::Trapped(_)) {
            ran += 1;
        }
    }
    assert!(
        ran > 10,
        "the mutations should leave some modules runnable, ran {ran}"
    );
}

/// Tests the Wasmtime 48.0.8 fix (a module with more than ~32 000 data segments panicked the
/// compiler): Cage's static limit refuses it by default, and when allowed it compiles and runs.
pub fn data_segment_bomb_is_rejected_or_compiled_without_panic(rt: &Target<'_>) {
    let mut text = String::from("(module (memory 1) (func (export \"run\"))");
    for _ in 0..40_000 {
        text.push_str("(data (i32.const 0) \"a\")");
    }
    text.push(')');
    let bytes = wasm(&text);
    let r = run_with(
        rt,
        &Policy::default(),
        &bytes,
        &HostFunctions::new(),
        Invocation::call("run", []),
    );
    assert_eq!(
        r.outcome(),
        Outcome::Rejected(Rejection::LimitExceeded),
        "{r:?}"
    );
    let mut policy = Policy::default();
    policy.limits.max_data_segments = 50_000;
    let r = run_with(
        rt,
        &policy,
        &bytes,
        &HostFunctions::new(),
        Invocation::call("run", []),
    );
    assert_eq!(r.outcome(), Outcome::Returned(vec![]), "{r:?}");
}

/// Tests that a br_table with more targets than Cage allows (GHSA-mghf-wjfp-p5xm) is refused on
/// every runtime before compiling.
pub fn br_table_past_the_cage_limit_is_rejected(rt: &Target<'_>) {
    let targets = "0 ".repeat(cage_core::module::MAX_BR_TABLE_TARGETS + 2);
    let text = format!(
        "(module (func (export \"run\") (param i32) (result i32) (block (br_table {targets} (local.get 0))) (i32.const 7)))"
    );
    let r = run(
        rt,
        &Policy::preset(cage_core::Preset::Permissive),
        &text,
        "run",
        &[Value::I32(0)],
    );
    assert_eq!(
        r.outcome(),
        Outcome::Rejected(Rejection::LimitExceeded),
        "{:?}",
        r.message
    );
}

/// Tests that a guest allowed a large stack overflows it with a trap, not a host crash.
pub fn deep_guest_stack_traps_instead_of_crashing(rt: &Target<'_>) {
    let policy = Policy::default().with_max_stack(8 << 20);
    let r = run(
        rt,
        &policy,
        r#"(module (func $f (export "run") (call $f)))"#,
        "run",
        &[],
    );
    assert_eq!(r.outcome(), Outcome::Trapped(Trap::StackOverflow), "{r:?}");
}

/// Tests the sandbox API's own errors: calling before instantiation, a missing export.
pub fn calls_on_an_uninstantiated_or_wrong_export_are_rejected(rt: &Target<'_>) {
    let policy = Policy::default();
    let runtime = make(rt, &policy);
    let checked = cage_core::check(
        &wasm(r#"(module (func (export "f") (param i32)))"#),
        &policy,
    )
    .unwrap();
    let module = runtime
        .compile_dyn(&checked, &HostFunctions::new())
        .unwrap();
    let mut sb = rt.sandbox(module.as_ref()).unwrap();
    let invalid = |e: Error| {
        matches!(
            e,
            Error::Rejected {
                rejection: Rejection::InvalidInvocation,
                ..
            }
        )
    };
    assert!(invalid(sb.call("f", &[Value::I32(1)]).unwrap_err()));
    sb.instantiate().unwrap();
    assert!(invalid(sb.call("g", &[]).unwrap_err()));
    assert!(invalid(sb.call("f", &[]).unwrap_err()));
    assert!(invalid(sb.call("f", &[Value::I64(1)]).unwrap_err()));
    assert_eq!(sb.call("f", &[Value::I32(1)]).unwrap(), []);
}

/// Tests exact `fuel_consumed` values that follow from the cost model (1 per operator except the
/// free ones, 1 per function entry, 1 per byte of bulk memory operations), so that the runtimes
/// cannot agree with each other on a wrong number.
pub fn fuel_matches_the_cost_model_exactly(rt: &Target<'_>) {
    let policy = Policy::default().with_fuel(Some(1_000_000));
    let host = HostFunctions::new().with(HostFunc::new(
        "env",
        "nop",
        FuncType::new([], []),
        |_, _| Ok(vec![]),
    ));
    let cases: [(&str, Vec<Value>, u64); 6] = [
        // entry + i32.const
        (
            r#"(module (func (export "f") (result i32) (i32.const 1)))"#,
            vec![],
            2,
        ),
        // entry + call (the host function itself is free) + i32.const
        (
            r#"(module (import "env" "nop" (func $h)) (func (export "f") (result i32) (call $h) (i32.const 1)))"#,
            vec![],
            3,
        ),
        // br_if taken: entry + const + local.get + br_if; the rest is skipped and not charged
        (EARLY_EXIT, vec![Value::I32(1)], 4),
        // br_if not taken: + i32.const, i32.const, i32.add (drop is free)
        (EARLY_EXIT, vec![Value::I32(0)], 7),
        // entry + (const + local.set) + 3 operands + memory.fill + 5000 bytes
        (
            r#"(module (memory 1) (func (export "f") (result i32) (local i32) (local.set 0 (i32.const 5000))
            (memory.fill (i32.const 0) (i32.const 7) (local.get 0)) (i32.const 0)))"#,
            vec![],
            5008,
        ),
        // a start function counts (entry + global.set + const) ; instantiation does not
        (
            r#"(module (global $g (mut i32) (i32.const 0)) (memory 1) (data (i32.const 0) "free")
            (func $s (global.set $g (i32.const 1))) (start $s) (func (export "f") (result i32) (global.get $g)))"#,
            vec![],
            3 + 2,
        ),
    ];
    for (text, args, want) in cases {
        let r = run_with(
            rt,
            &policy,
            &wasm(text),
            &host,
            Invocation::call("f", args.clone()),
        );
        assert!(matches!(r.outcome(), Outcome::Returned(_)), "{text}: {r:?}");
        assert_eq!(r.fuel_consumed, Some(want), "{text} with {args:?}");
    }
}

const EARLY_EXIT: &str = r#"(module (func (export "f") (param i32) (result i32)
    (block (result i32) (i32.const 7) (local.get 0) (br_if 0) (drop) (i32.const 8) (i32.const 1) (i32.add))))"#;

/// Tests that a sandbox whose start function ran out of fuel cannot be instantiated again (which
/// would hand the guest a fresh budget in the same sandbox).
pub fn a_failed_start_cannot_be_retried_for_fresh_fuel(rt: &Target<'_>) {
    let policy = Policy::default().with_fuel(Some(1_000));
    let runtime = make(rt, &policy);
    let checked =
        cage_core::check(&wasm("(module (func $s (loop br 0)) (start $s))"), &policy).unwrap();
    let module = runtime
        .compile_dyn(&checked, &HostFunctions::new())
        .unwrap();
    let mut sb = rt.sandbox(module.as_ref()).unwrap();
    let e = sb.instantiate().unwrap_err();
    assert!(
        matches!(
            e,
            Error::Trapped {
                trap: Trap::OutOfFuel,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(sb.stats().fuel_consumed, Some(1_000));
    let e = sb.instantiate().unwrap_err();
    assert!(
        matches!(
            e,
            Error::Rejected {
                rejection: Rejection::InvalidInvocation,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(sb.stats().fuel_consumed, Some(1_000), "no fresh budget");
}

/// Tests that `exported_state` reports exported globals and memory contents , and nothing for an instance whose start function trapped (a divergence
/// the differential fuzzer found: Wasmer kept such an instance's exports visible).
pub fn exported_state_shows_globals_and_memory_and_nothing_after_a_failed_start(rt: &Target<'_>) {
    let policy = Policy::default().with_fuel(Some(10_000));
    let runtime = make(rt, &policy);
    let text = r#"(module
        (global $g (export "g") (mut i32) (i32.const 1))
        (memory (export "mem") 1)
        (func (export "bump") (global.set $g (i32.const 42)) (i32.store8 (i32.const 3) (i32.const 9))))"#;
    let checked = cage_core::check(&wasm(text), &policy).unwrap();
    let module = runtime
        .compile_dyn(&checked, &HostFunctions::new())
        .unwrap();
    let mut sb = rt.sandbox(module.as_ref()).unwrap();
    assert_eq!(sb.exported_state(), cage_core::ExportedState::default());
    sb.instantiate().unwrap();
    sb.call("bump", &[]).unwrap();
    let state = sb.exported_state();
    assert_eq!(state.globals, vec![("g".to_owned(), Value::I32(42))]);
    let mut expected = cage_core::ExportedState::default();
    let mut page = vec![0u8; 65_536];
    page[3] = 9;
    expected.push_memory("mem", &page);
    assert_eq!(state.memories, expected.memories);

    let failing = r#"(module (global (export "g") i32 (i32.const 7)) (memory (export "m") 1)
        (func $s unreachable) (start $s))"#;
    let checked = cage_core::check(&wasm(failing), &policy).unwrap();
    let module = runtime
        .compile_dyn(&checked, &HostFunctions::new())
        .unwrap();
    let mut sb = rt.sandbox(module.as_ref()).unwrap();
    assert!(sb.instantiate().is_err());
    assert_eq!(sb.exported_state(), cage_core::ExportedState::default());
}

/// Tests that a host closure that panics is the host's fault: the guest traps `host_error`
/// naming the function and the panic message, that sandbox is poisoned, and the process, the
/// runtime and other sandboxes go on.
pub fn a_panicking_host_function_is_a_host_error_and_poisons_only_its_sandbox(rt: &Target<'_>) {
    let policy = Policy::default();
    let runtime = make(rt, &policy);
    let host = HostFunctions::new().with(HostFunc::new(
        "env",
        "explode",
        FuncType::new([ValType::I32], [ValType::I32]),
        |_, a| {
            if a[0] == Value::I32(1) {
                panic!("the host closure blew up");
            }
            Ok(vec![a[0]])
        },
    ));
    let text = r#"(module (import "env" "explode" (func $e (param i32) (result i32)))
        (func (export "go") (param i32) (result i32) (call $e (local.get 0))))"#;
    let checked = cage_core::check(&wasm(text), &policy).unwrap();
    let module = runtime.compile_dyn(&checked, &host).unwrap();
    let mut sb = rt.sandbox(module.as_ref()).unwrap();
    sb.instantiate().unwrap();
    assert_eq!(sb.call("go", &[Value::I32(5)]).unwrap(), [Value::I32(5)]);
    let e = sb.call("go", &[Value::I32(1)]).unwrap_err();
    assert_eq!(e.as_trap(), Some(Trap::HostError), "{e:?}");
    let m = e.message().unwrap_or_default();
    assert!(
        m.contains("env.explode") && m.contains("the host closure blew up"),
        "{m}"
    );
    let e = sb.call("go", &[Value::I32(5)]).unwrap_err();
    assert_eq!(
        e.as_rejection(),
        Some(Rejection::InvalidInvocation),
        "poisoned: {e:?}"
    );
    let mut other = rt.sandbox(module.as_ref()).unwrap();
    other.instantiate().unwrap();
    assert_eq!(other.call("go", &[Value::I32(7)]).unwrap(), [Value::I32(7)]);
}

/// Per-sandbox application state.
struct Counter(u32);

/// Tests that host functions reach typed state owned by the sandbox they run in, and that each
/// sandbox has its own.
pub fn host_functions_reach_typed_per_sandbox_data(rt: &Target<'_>) {
    let policy = Policy::default();
    let runtime = make(rt, &policy);
    let host = HostFunctions::new().with(HostFunc::new(
        "env",
        "tick",
        FuncType::new([], [ValType::I32]),
        |cx, _| {
            let c = cx
                .data::<Counter>()
                .ok_or_else(|| HostError::new("no counter"))?;
            c.0 += 1;
            Ok(vec![Value::I32(c.0 as i32)])
        },
    ));
    let text = r#"(module (import "env" "tick" (func $t (result i32)))
        (func (export "go") (result i32) (drop (call $t)) (call $t)))"#;
    let checked = cage_core::check(&wasm(text), &policy).unwrap();
    let module = runtime.compile_dyn(&checked, &host).unwrap();
    let mut a = rt.sandbox(module.as_ref()).unwrap();
    let mut b = rt.sandbox(module.as_ref()).unwrap();
    a.with_extensions(|x| x.insert(Counter(0)));
    b.with_extensions(|x| x.insert(Counter(100)));
    a.instantiate().unwrap();
    b.instantiate().unwrap();
    assert_eq!(a.call("go", &[]).unwrap(), [Value::I32(2)]);
    assert_eq!(a.call("go", &[]).unwrap(), [Value::I32(4)]);
    assert_eq!(b.call("go", &[]).unwrap(), [Value::I32(102)]);
    assert_eq!(
        a.with_extensions(|x| x.get::<Counter>().map(|c| c.0)),
        Some(4)
    );
    let mut c = rt.sandbox(module.as_ref()).unwrap();
    c.instantiate().unwrap();
    let e = c.call("go", &[]).unwrap_err();
    assert_eq!(e.as_trap(), Some(Trap::HostError), "{e:?}");
}

/// Tests that a failed instantiation (a data segment out of bounds) is final on every runtime:
/// the sandbox refuses a second attempt, a new sandbox fails the same way.
pub fn a_failed_instantiation_cannot_be_retried(rt: &Target<'_>) {
    let policy = Policy::default().with_fuel(Some(1_000));
    let runtime = make(rt, &policy);
    let text = r#"(module (memory 1) (data (i32.const 65535) "ab") (func (export "f")))"#;
    let checked = cage_core::check(&wasm(text), &policy).unwrap();
    let module = runtime
        .compile_dyn(&checked, &HostFunctions::new())
        .unwrap();
    let mut sb = rt.sandbox(module.as_ref()).unwrap();
    let e = sb.instantiate().unwrap_err();
    assert_eq!(e.as_trap(), Some(Trap::MemoryOutOfBounds), "{e:?}");
    let e = sb.instantiate().unwrap_err();
    assert_eq!(
        e.as_rejection(),
        Some(Rejection::InvalidInvocation),
        "{e:?}"
    );
    let e = sb.call("f", &[]).unwrap_err();
    assert_eq!(
        e.as_rejection(),
        Some(Rejection::InvalidInvocation),
        "{e:?}"
    );
    let mut fresh = rt.sandbox(module.as_ref()).unwrap();
    assert_eq!(
        fresh.instantiate().unwrap_err().as_trap(),
        Some(Trap::MemoryOutOfBounds)
    );
}

/// Tests `limits.memory_reservation = "max_memory"`: memories reserved at `max_memory` (explicit
/// bounds checks instead of a 4 GiB reservation) grow to the cap and no further, and every
/// access past the current size traps `memory_out_of_bounds`, also with large static offsets
/// and near 4 GiB, exactly as with full reservations.
pub fn memories_reserved_at_max_memory_behave_the_same(rt: &Target<'_>) {
    let text = r#"(module (memory 1)
        (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
        (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
        (func (export "load_far") (param i32) (result i32)
          (i32.load offset=65536 (local.get 0)))
        (func (export "store") (param i32) (i32.store8 (local.get 0) (i32.const 7))))"#;
    for reservation in [
        cage_core::policy::MemoryReservation::Full,
        cage_core::policy::MemoryReservation::MaxMemory,
    ] {
        let policy = Policy::default()
            .with_max_memory(4 * 65_536)
            .with_memory_reservation(reservation);
        let r = make(rt, &policy);
        let host = HostFunctions::new();
        let checked = cage_core::prepare(r.as_ref(), &wasm(text), &host, &Invocation::Instantiate)
            .unwrap_or_else(|e| panic!("{reservation:?}: {e}"));
        let m = r.compile_dyn(&checked, &host).unwrap();
        cage_core::on_guest_thread(&policy, || {
            let mut sb = rt.sandbox(m.as_ref()).unwrap();
            sb.instantiate().unwrap();
            let mut call = |f: &str, a: i32| sb.call(f, &[Value::I32(a)]);
            let oob = |r: Result<Vec<Value>, cage_core::Error>| {
                r.expect_err("out of bounds").as_trap() == Some(Trap::MemoryOutOfBounds)
            };
            assert!(oob(call("load", 65_536)), "{reservation:?}: past one page");
            assert_eq!(call("grow", 3).unwrap(), [Value::I32(1)], "{reservation:?}");
            assert_eq!(
                call("grow", 1).unwrap(),
                [Value::I32(-1)],
                "{reservation:?}: the cap"
            );
            call("store", 4 * 65_536 - 1).unwrap();
            assert_eq!(call("load", 4 * 65_536 - 1).unwrap(), [Value::I32(7)]);
            assert!(
                oob(call("load", 4 * 65_536)),
                "{reservation:?}: past the cap"
            );
            assert!(
                oob(call("load_far", 3 * 65_536 - 3)),
                "{reservation:?}: offset"
            );
            assert!(oob(call("load_far", -4)), "{reservation:?}: near 4 GiB");
            assert!(
                oob(call("load", -1)),
                "{reservation:?}: the last byte of 4 GiB"
            );
            assert_eq!(sb.stats().peak_memory_bytes, 4 * 65_536);
        })
        .expect("a guest thread");
    }
}

/// Tests `peak_table_elements`: the largest size one table reached (declared, then grown),
/// the same on every runtime.
pub fn peak_table_size_is_reported(rt: &Target<'_>) {
    let text = r#"(module (table $a 3 funcref) (table $b 10 funcref)
        (func (export "grow") (param i32) (result i32)
          (table.grow $a (ref.null func) (local.get 0))))"#;
    let mut policy = Policy::default();
    policy.limits.max_tables = 2;
    let r = run(rt, &policy, text, "grow", &[Value::I32(0)]);
    assert_eq!(r.outcome(), Outcome::Returned(vec![Value::I32(3)]), "{r:?}");
    assert_eq!(r.peak_table_elements, 10, "the larger declared table");
    let r = run(rt, &policy, text, "grow", &[Value::I32(20)]);
    assert_eq!(r.outcome(), Outcome::Returned(vec![Value::I32(3)]), "{r:?}");
    assert_eq!(r.peak_table_elements, 23, "the grown table");
    let none = run(rt, &policy, r#"(module (func (export "f")))"#, "f", &[]);
    assert_eq!(none.peak_table_elements, 0);
}

/// Tests memory caps (the limiter or tunables): growth past `max_memory` returns -1, with
/// `trap_on_grow_failure` it traps `resource_limit`, and the peak is reported.
pub fn memory_caps_hold_and_grow_failures_can_trap(rt: &Target<'_>) {
    let text = r#"(module (memory 1)
        (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#;
    let policy = Policy::default().with_max_memory(4 * 65_536);
    let r = run(rt, &policy, text, "grow", &[Value::I32(3)]);
    assert_eq!(r.outcome(), Outcome::Returned(vec![Value::I32(1)]), "{r:?}");
    assert_eq!(r.peak_memory_bytes, 4 * 65_536);
    let r = run(rt, &policy, text, "grow", &[Value::I32(4)]);
    assert_eq!(
        r.outcome(),
        Outcome::Returned(vec![Value::I32(-1)]),
        "{r:?}"
    );
    let policy = policy.with_trap_on_grow_failure(true);
    let r = run(rt, &policy, text, "grow", &[Value::I32(4)]);
    assert_eq!(r.outcome(), Outcome::Trapped(Trap::ResourceLimit), "{r:?}");
}

/// Tests WASI through the backend: the preopen is descriptor 3, writes in a read-only directory
/// are refused with `EPERM`, in a read-write one they land on the host, stdout is captured.
pub fn wasi_preopens_output_and_read_only_directories(rt: &Target<'_>) {
    let dir = std::env::temp_dir().join(format!(
        "cage-behaviour-wasi-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // path_open(3, 0, "out.txt", CREAT, FD_WRITE) and exit with the errno; print "ok\n" first.
    let text = r#"(module
        (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (data (i32.const 16) "out.txt") (data (i32.const 32) "ok\n")
        (func (export "_start")
          (i32.store (i32.const 0) (i32.const 32)) (i32.store (i32.const 4) (i32.const 3))
          (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
          (call $exit (call $open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 7)
            (i32.const 1) (i64.const 64) (i64.const 64) (i32.const 0) (i32.const 12)))))"#;
    for (mode, code) in [
        (cage_core::policy::DirMode::Ro, 63),
        (cage_core::policy::DirMode::Rw, 0),
    ] {
        let mut policy = Policy::default();
        policy
            .wasi
            .dirs
            .push(cage_core::policy::Dir::new(dir.clone(), "/data", mode));
        let r = run_with(
            rt,
            &policy,
            &wasm(text),
            &HostFunctions::new(),
            Invocation::Command,
        );
        assert_eq!(r.outcome(), Outcome::Exited(code), "{mode:?}: {r:?}");
        assert_eq!(r.stdout, "ok\n");
        assert_eq!(dir.join("out.txt").exists(), code == 0, "{mode:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Tests the documented fuel rule for WASI calls (100 per call plus 1 per byte copied between
/// guest memory and the host), exactly, so that no runtime can agree with another on a wrong
/// number.
pub fn wasi_calls_cost_the_documented_fuel(rt: &Target<'_>) {
    let policy = Policy::default().with_fuel(Some(1_000_000));
    let costs = cage_core::cost::WasiCosts::default();
    // entry 1; args_sizes_get: two i32.const and the call, 3; its two 4-byte results, 8 bytes.
    let text = r#"(module
        (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "_start") (drop (call $sizes (i32.const 0) (i32.const 4)))))"#;
    let r = run_with(
        rt,
        &policy,
        &wasm(text),
        &HostFunctions::new(),
        Invocation::Command,
    );
    assert_eq!(r.outcome(), Outcome::Exited(0), "{r:?}");
    assert_eq!(
        r.fuel_consumed,
        Some(1 + 3 + costs.call + 8 * costs.per_byte)
    );
    // fd_write of a 5-byte buffer: entry 1; two stores (two constants and the store each, 6);
    // the call's four constants and the call, 5; then the iovec (8 bytes), the data (5 bytes)
    // and the result (4 bytes).
    let text = r#"(module
        (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 64) "hello")
        (func (export "_start")
          (i32.store (i32.const 0) (i32.const 64))
          (i32.store (i32.const 4) (i32.const 5))
          (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))))"#;
    let r = run_with(
        rt,
        &policy,
        &wasm(text),
        &HostFunctions::new(),
        Invocation::Command,
    );
    assert_eq!(r.outcome(), Outcome::Exited(0), "{r:?}");
    assert_eq!(r.stdout, "hello");
    assert_eq!(
        r.fuel_consumed,
        Some(1 + 6 + 5 + costs.call + (8 + 5 + 4) * costs.per_byte)
    );
}

/// Tests async host functions (`HostFunc::new_async`) in both modes. Async: `prepare` reads the
/// guest's memory, the future suspends the guest once, the finish writes into its memory and
/// returns a value; the guest sees both, and the fuel is exactly that of the same function
/// written as a sync host function with the same cost. Sync: the call traps `host_error`
/// saying it needs an async call (a sync call has no executor to run the future on).
#[cfg(feature = "async")]
pub fn async_host_functions_resume_the_guest_or_are_refused_by_sync_calls(rt: &Target<'_>) {
    let ty = FuncType::new([ValType::I32], [ValType::I32]);
    // later(p): reads the byte at p, and after an await writes it + 1 back and returns it + 2.
    let later = HostFunc::new_async("env", "later", ty.clone(), |cx, args| {
        let [Value::I32(p)] = args else {
            return Err(HostError::new("later takes one i32"));
        };
        let p = *p as u64;
        let byte = cx.read_vec(p, 1)?[0];
        Ok(Box::pin(async move {
            // The guest really suspends in the async host function.
            cage_core::async_api::yield_now().await;
            let finish: cage_core::async_api::Finish = Box::new(move |cx| {
                cx.write(p, &[byte + 1])?;
                Ok(vec![Value::I32(i32::from(byte) + 2)])
            });
            Ok(finish)
        }))
    })
    .with_fuel_cost(50);
    let now = HostFunc::new("env", "later", ty, |cx, args| {
        let [Value::I32(p)] = args else {
            return Err(HostError::new("later takes one i32"));
        };
        let p = *p as u64;
        let byte = cx.read_vec(p, 1)?[0];
        cx.write(p, &[byte + 1])?;
        Ok(vec![Value::I32(i32::from(byte) + 2)])
    })
    .with_fuel_cost(50);
    let text = r#"(module (import "env" "later" (func $l (param i32) (result i32)))
        (memory (export "memory") 1) (data (i32.const 8) "\07")
        (func (export "go") (result i32 i32)
          (call $l (i32.const 8)) (i32.load8_u (i32.const 8))))"#;
    let policy = Policy::default().with_fuel(Some(10_000));
    let go = || Invocation::call("go", []);
    let with = |f: &HostFunc| HostFunctions::new().with(f.clone());
    // The reference: the sync host function on the sync path.
    let sync_target = Target::new(rt.make, Mode::Sync);
    let reference = run_with(&sync_target, &policy, &wasm(text), &with(&now), go());
    assert_eq!(
        reference.outcome(),
        Outcome::Returned(vec![Value::I32(9), Value::I32(8)]),
        "{reference:?}"
    );
    let r = run_with(rt, &policy, &wasm(text), &with(&later), go());
    match rt.mode() {
        Mode::Sync => {
            assert_eq!(r.outcome(), Outcome::Trapped(Trap::HostError), "{r:?}");
            assert!(
                r.message
                    .as_deref()
                    .unwrap_or("")
                    .contains("needs an async call"),
                "{r:?}"
            );
        }
        Mode::Async => {
            assert_eq!(r.outcome(), reference.outcome(), "{r:?}");
            assert_eq!(r.fuel_consumed, reference.fuel_consumed, "{r:?}");
        }
    }
}

/// Tests typed calls on a concrete backend: the same results, fuel and trap classification as
/// untyped calls; signature mismatches, calls before instantiation and calls on another
/// sandbox are `invalid_invocation`; a deadline stops a typed call.
pub fn typed_calls_match_untyped_calls<B>(
    make: &dyn Fn(&Policy) -> Result<cage_core::Runtime<B>, Error>,
) where
    B: cage_core::backend::Backend,
    B::Store: cage_core::backend::TypedStore<(i64,), i64>
        + cage_core::backend::TypedStore<(i32, i32), i32>
        + cage_core::backend::TypedStore<(), ()>
        + cage_core::backend::TypedStore<(i64,), i32>,
{
    let text = r#"(module
        (func $fib (export "fib") (param i64) (result i64)
          (if (result i64) (i64.lt_u (local.get 0) (i64.const 2))
            (then (local.get 0))
            (else (i64.add (call $fib (i64.sub (local.get 0) (i64.const 1)))
                           (call $fib (i64.sub (local.get 0) (i64.const 2)))))))
        (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
        (func (export "spin") (loop br 0)))"#;
    let policy = Policy::default().with_fuel(Some(10_000_000));
    let rt = make(&policy).expect("runtime");
    let module = rt.compile(&wasm(text), &HostFunctions::new()).unwrap();
    cage_core::on_guest_thread(&policy, || {
        let mut untyped = module.sandbox().unwrap();
        untyped.instantiate().unwrap();
        assert_eq!(
            untyped.call("fib", &[Value::I64(20)]).unwrap(),
            [Value::I64(6765)]
        );
        let mut sb = module.sandbox().unwrap();
        assert!(sb.typed::<(i64,), i64>("fib").is_err(), "not instantiated");
        sb.instantiate().unwrap();
        let fib = sb.typed::<(i64,), i64>("fib").unwrap();
        assert_eq!(fib.call(&mut sb, (20,)).unwrap(), 6765);
        assert_eq!(sb.stats().fuel_consumed, untyped.stats().fuel_consumed);
        let div = sb.typed::<(i32, i32), i32>("div").unwrap();
        assert_eq!(div.call(&mut sb, (7, 2)).unwrap(), 3);
        let e = div.call(&mut sb, (7, 0)).unwrap_err();
        assert_eq!(e.as_trap(), Some(Trap::IntegerDivisionByZero), "{e:?}");
        let e = sb.typed::<(i64,), i32>("fib").unwrap_err();
        assert_eq!(
            e.as_rejection(),
            Some(Rejection::InvalidInvocation),
            "{e:?}"
        );
        let e = fib.call(&mut untyped, (3,)).unwrap_err();
        assert_eq!(
            e.as_rejection(),
            Some(Rejection::InvalidInvocation),
            "{e:?}"
        );
        let spin = sb.typed::<(), ()>("spin").unwrap();
        assert_eq!(
            spin.call(&mut sb, ()).unwrap_err().as_trap(),
            Some(Trap::OutOfFuel)
        );
    })
    .expect("a guest thread");
    let policy = Policy::default().with_timeout(Some(Duration::from_millis(100)));
    let rt = make(&policy).expect("runtime");
    let module = rt.compile(&wasm(text), &HostFunctions::new()).unwrap();
    cage_core::on_guest_thread(&policy, || {
        let mut sb = module.sandbox().unwrap();
        sb.instantiate().unwrap();
        let spin = sb.typed::<(), ()>("spin").unwrap();
        let t = Instant::now();
        assert_eq!(
            spin.call(&mut sb, ()).unwrap_err().as_trap(),
            Some(Trap::Timeout)
        );
        assert!(
            t.elapsed() >= Duration::from_millis(95),
            "{:?}",
            t.elapsed()
        );
    })
    .expect("a guest thread");
}
