//! The `async/many-guests` workload (issue 26): N concurrent guests, each computing for about
//! 1 ms, awaiting a host function that sleeps 10 ms, then computing again, on a 2-thread tokio
//! runtime, through the async API (`AsyncSandbox`, `HostFunc::new_async`, a tokio timer), or
//! through the sync API on `spawn_blocking` (the host function sleeps its thread).
//!
//! `cage bench` measures one batch of N guests per iteration (`async/many-guests/plain`,
//! `async/many-guests/spawn-blocking/plain`); `bench/examples/many_guests.rs` prints the ratio to
//! the ideal and the peak RSS as well. The ideal for N guests on two threads is N × 1 ms (two
//! 1 ms phases each) plus one sleep: [`ideal`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use cage::async_api::{Finish, HostFuture};
use cage::{
    AsyncSandbox, DynModule, FuncType, HostContext, HostError, HostFunc, HostFunctions, Policy,
    RuntimeName, Value,
};

/// The guest: `bench/workloads/many_guests.wat`.
pub const GUEST_WAT: &str = include_str!("../workloads/many_guests.wat");
/// What `host.wait` sleeps.
pub const SLEEP: Duration = Duration::from_millis(10);
/// Each of a guest's two compute phases.
pub const COMPUTE: Duration = Duration::from_millis(1);
/// Guests per batch in `cage bench`.
pub const GUESTS: usize = 10_000;
/// Guests per batch in `cage bench --quick` and under criterion.
pub const GUESTS_QUICK: usize = 1_000;
/// The executor's worker threads.
pub const THREADS: usize = 2;

/// Which API the guests are driven through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// `AsyncSandbox`; `host.wait` is an async host function awaiting a tokio timer.
    Async,
    /// The sync API in `spawn_blocking`; `host.wait` sleeps its thread.
    Blocking,
}

/// The ideal time of a batch of `guests` on [`THREADS`] threads: their compute shared by the
/// threads, plus one sleep. (Paths that compute on threads of their own, Wasmer's guest threads
/// and `spawn_blocking`, can beat it on a machine with more than [`THREADS`] cores.)
pub fn ideal(guests: usize) -> Duration {
    COMPUTE * 2 * u32::try_from(guests).unwrap_or(u32::MAX) / THREADS as u32 + SLEEP
}

/// The policy of the batch's guests: `base` with room for every guest alive at once.
pub fn policy(base: Policy, guests: usize) -> Policy {
    let mut policy = base;
    policy.limits.max_instances = u32::try_from(guests.max(1)).unwrap_or(u32::MAX);
    policy
}

/// A compiled guest, its calibrated loop count and the executor: a batch is ready to run.
pub struct Batch {
    module: Arc<dyn DynModule>,
    api: Api,
    loops: i32,
    exec: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("api", &self.api)
            .field("loops", &self.loops)
            .finish_non_exhaustive()
    }
}

fn wait_fn(api: Api) -> HostFunc {
    match api {
        Api::Async => HostFunc::new_async(
            "host",
            "wait",
            FuncType::new([], []),
            |_cx: &mut dyn HostContext, _args: &[Value]| -> Result<HostFuture, HostError> {
                Ok(Box::pin(async {
                    tokio::time::sleep(SLEEP).await;
                    let finish: Finish = Box::new(|_cx: &mut dyn HostContext| Ok(Vec::new()));
                    Ok(finish)
                }))
            },
        ),
        Api::Blocking => HostFunc::new("host", "wait", FuncType::new([], []), |_cx, _args| {
            std::thread::sleep(SLEEP);
            Ok(Vec::new())
        }),
    }
}

fn compile(
    name: RuntimeName,
    policy: &Policy,
    host: HostFunc,
) -> Result<Arc<dyn DynModule>, String> {
    let rt = cage::runtime_named(name, policy).map_err(|e| e.to_string())?;
    let wasm = cage_core::module::to_binary(GUEST_WAT.as_bytes()).map_err(|e| e.to_string())?;
    rt.compile(&wasm, &HostFunctions::new().with(host))
        .map(Arc::from)
        .map_err(|e| e.to_string())
}

/// Loop iterations that take about [`COMPUTE`] on this runtime, measured on one warm guest whose
/// `wait` returns at once (so that no sleep counts as compute): the median of 11 calls, scaled.
fn calibrate(name: RuntimeName, policy: &Policy) -> Result<i32, String> {
    let nop = HostFunc::new("host", "wait", FuncType::new([], []), |_cx, _args| {
        Ok(Vec::new())
    });
    let module = compile(name, policy, nop)?;
    cage::on_guest_thread(policy, || {
        let mut sb = module.sandbox().map_err(|e| e.to_string())?;
        sb.instantiate().map_err(|e| e.to_string())?;
        let mut per_phase = |n: i32| -> Result<Duration, String> {
            let mut times = Vec::with_capacity(11);
            for _ in 0..11 {
                let start = Instant::now();
                sb.call("work", &[Value::I32(n)])
                    .map_err(|e| e.to_string())?;
                times.push(start.elapsed() / 2);
            }
            times.sort();
            Ok(times[5])
        };
        let mut n: i32 = 100_000;
        loop {
            let t = per_phase(n)?;
            if t >= COMPUTE * 2 || n > 1 << 28 {
                let scale = COMPUTE.as_secs_f64() / t.as_secs_f64().max(1e-9);
                return Ok((f64::from(n) * scale).max(1.0) as i32);
            }
            n = n.saturating_mul(4);
        }
    })
    .map_err(|e| e.to_string())?
}

impl Batch {
    /// Compiles the guest on runtime `name` under `policy` (see [`policy`]) for `api`,
    /// calibrates its compute phase and starts a [`THREADS`]-thread tokio runtime.
    ///
    /// # Errors
    /// The runtime is not compiled in, or compiling, calibrating or starting the executor fails.
    pub fn new(name: RuntimeName, api: Api, policy: &Policy) -> Result<Batch, String> {
        let loops = calibrate(name, policy)?;
        let module = compile(name, policy, wait_fn(api))?;
        // Blocking threads run guests: room for `max_stack` and the host, as every guest thread.
        let stack = usize::try_from(policy.limits.max_stack.bytes())
            .unwrap_or(usize::MAX / 2)
            .saturating_add(cage_core::backend::HOST_STACK_MARGIN);
        let exec = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(THREADS)
            .thread_stack_size(stack)
            .enable_time()
            .build()
            .map_err(|e| format!("cannot start the executor: {e}"))?;
        Ok(Batch {
            module,
            api,
            loops,
            exec,
        })
    }

    /// Whether the async guests run on fibers (Wasmtime) rather than a thread each.
    pub fn native(&self) -> bool {
        self.api == Api::Async && self.module.native_async_sandbox().is_some()
    }

    /// The calibrated loop count of one compute phase.
    pub fn loops(&self) -> i32 {
        self.loops
    }

    /// Runs `guests` guests at once and waits for all: how many completed, the first error of
    /// the others (refused by the process budget, on Wasmer past its threads), and the time.
    pub fn run(&self, guests: usize) -> (usize, Option<String>, Duration) {
        let n = self.loops;
        let start = Instant::now();
        let results: Vec<Result<(), String>> = self.exec.block_on(async {
            let mut tasks = Vec::with_capacity(guests);
            for _ in 0..guests {
                let module = self.module.clone();
                tasks.push(match self.api {
                    Api::Async => tokio::spawn(async move {
                        let mut sb = AsyncSandbox::new(module.as_ref()).await?;
                        sb.instantiate().await?;
                        sb.call("work", &[Value::I32(n)]).await.map(drop)
                    }),
                    Api::Blocking => tokio::task::spawn_blocking(move || {
                        let mut sb = module.sandbox()?;
                        sb.instantiate()?;
                        sb.call("work", &[Value::I32(n)]).map(drop)
                    }),
                });
            }
            let mut results = Vec::with_capacity(guests);
            for t in tasks {
                results.push(match t.await {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(e) => Err(format!("the task failed: {e}")),
                });
            }
            results
        });
        let took = start.elapsed();
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let first = results.into_iter().find_map(Result::err);
        (ok, first, took)
    }

    /// One `cage bench` iteration: a batch of `guests`, all of which must complete.
    ///
    /// # Errors
    /// Some guests did not complete: how many, and the first error.
    pub fn iteration(&self, guests: usize) -> Result<(), String> {
        match self.run(guests) {
            (ok, _, _) if ok == guests => Ok(()),
            (ok, first, _) => Err(format!(
                "{ok} of {guests} guests completed; first error: {}",
                first.unwrap_or_default()
            )),
        }
    }
}
