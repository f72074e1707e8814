//! The async API (feature `async`): guests awaited from an async executor (tokio, async-std,
//! …), with the same outcomes, traps and fuel on every runtime.
//!
//! # How it works: two paths behind one API
//!
//! **Native (Wasmtime: [`crate::Capabilities::native_async`]).** An [`AsyncSandbox`] (and a
//! [`run_async`]) runs its guest on a Wasmtime fiber, a stack of its own (`max_stack` plus the
//! host's margin) that the task awaiting the call polls: no OS thread per guest, thousands of
//! guests on a few executor threads. A guest that computes yields its executor thread every
//! `limits.yield_interval` (Wasmtime's epoch ticks, the same ones that judge deadlines) and
//! picks up where it stopped when polled again. An async host function
//! ([`crate::HostFunc::new_async`]) runs inside the fiber: `prepare`, await the future (on the
//! executor polling the call), `finish` ([`crate::HostFunc::invoke_async`]); sync host
//! functions run as on the sync path. The lifecycle, the fuel account, panic containment and
//! outcome classification are the sync path's own code (the sandbox's async twin,
//! `runtime/asynchronous.rs`); the backend supplies only the awaited instantiation and call
//! ([`crate::backend::AsyncStore`]). Fiber stacks are charged to the process budget with their
//! sandbox ([`crate::backend::Backend::async_stack_cost`]). Sync host functions, WASI's
//! included, run on the executor's thread: one that blocks (WASI's `poll_oneoff` clock waits,
//! reads of the host's stdin) blocks that thread for as long.
//!
//! **Guest threads (Wasmer).** Each async sandbox (and each async run) owns one guest thread,
//! sized for `max_stack` like every guest thread. The guest runs there, synchronously, exactly
//! as on the sync path; the futures wait for it and, when the guest calls an async host
//! function, run that function's future on the application's executor, then hand its result
//! back to the guest thread. A spinning guest never holds an executor thread (the OS preempts
//! its thread), so `limits.yield_interval` does not apply. Wasmer 7.3 has no counterpart to
//! Wasmtime's fibers that Cage can use soundly: its `experimental-async` runs each call in a
//! coroutine that can suspend in an async host function and interleave with others on one
//! thread, but the signal handler's context (`wasmer-vm`'s `TRAP_HANDLER`) is set when a call
//! starts and put back only when it ends, not at each resume, so a call resumed after another
//! started would take a signal trap (Cage's stop checks, out-of-bounds accesses) with the
//! other's context; its futures are `!Send`; and it has no fuel or epoch yields (docs/rust.md,
//! "Why two mechanisms"). The cost is
//! one OS thread per sandbox for its life: thousands of concurrent guests hold thousands of
//! (mostly idle) threads, each charged to the process budget.
//!
//! Every future is `Send` on both paths: spawn them on a multi-threaded executor. The numbers
//! are in `docs/rust.md`, "Async".
//!
//! # Deadlines and cancellation
//!
//! The deadline stays wall-clock per call and counts the time spent yielded and awaiting host
//! futures. On the native path each call races its deadline: the deadline is checked before
//! every resume, and a timer of Cage's own (one thread for the process, executor-agnostic)
//! wakes the call's task when it comes, so a guest past its deadline ends `trapped: timeout`
//! without waiting to be resumed, and its fiber is unwound (the host future it awaited is
//! dropped); as on the sync path, a timeout leaves the sandbox usable. On the thread path a
//! guest waiting in an async host function past its deadline ends `trapped: timeout` and the
//! host future is dropped.
//!
//! Dropping a call's future poisons the sandbox: later calls are refused
//! `rejected: invalid_invocation`. On the native path the guest stops at once (Wasmtime unwinds
//! its fiber, dropping the host future it awaited). On the thread path a guest waiting in an
//! async host function stops at once (`trapped: host_error`, "cancelled"); a guest computing
//! (or calling sync host functions) stops at its deadline, its fuel or its next async host
//! call, whichever comes first, on its own thread, and the sandbox's counters (`stats`, …)
//! answer once it has stopped. A call whose future is dropped before its guest thread took it
//! up never runs.

use std::cell::RefCell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::Instant;

use futures_channel::{mpsc, oneshot};
use futures_util::future::{Either, select};
use futures_util::{FutureExt, StreamExt};

use crate::backend::HOST_STACK_MARGIN;
use crate::error::Error;
use crate::host::{HostContext, HostError, HostFunc, HostFunctions};
use crate::module::FuncType;
use crate::names::RuntimeName;
use crate::outcome::{HostFailure, Rejection};
use crate::policy::Policy;
use crate::records::{Output, Stats};
use crate::report::Report;
use crate::run::Invocation;
use crate::runtime::DynAsyncSandbox;
use crate::runtime::{DynModule, DynRuntime, DynSandbox};
use crate::typed::{WasmParams, WasmResults};
use crate::value::Value;

pub use crate::host::{Finish, HostFuture};

impl HostFunc {
    /// An async host function: `prepare` runs on the guest's thread with its [`HostContext`]
    /// (read arguments out of guest memory, charge fuel) and returns a future, which runs on the
    /// executor awaiting the call ([the module](self)); the future's [`Finish`] runs back on
    /// the guest's thread (write results into guest memory) and returns the function's values.
    /// The call's deadline counts the time the future takes: past it the guest ends
    /// `trapped: timeout` and the future is dropped. Called from a sync call, it traps
    /// `host_error` (a sync call has no executor to run the future on).
    ///
    pub fn new_async(
        module: impl Into<String>,
        name: impl Into<String>,
        ty: FuncType,
        prepare: impl Fn(&mut dyn HostContext, &[Value]) -> Result<HostFuture, HostError>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        let prepare: Arc<crate::host::Prepare> = Arc::new(prepare);
        let on_thread = prepare.clone();
        // On a guest thread (runtimes without native async): the future is sent to the
        // executor awaiting the call. On runtimes with native async, the backend links the
        // function as an async one and awaits it in the guest's fiber
        // ([`HostFunc::invoke_async`]).
        let mut f = HostFunc::new(module, name, ty, move |cx, args| {
            let future = on_thread(cx, args)?;
            let finish = await_on_executor(cx, future)?;
            finish(cx)
        });
        f.prepare = Some(prepare);
        f
    }
}

/// A future that is pending once, waking its task at once, then ready: lets the executor run
/// its other tasks before the awaiting one goes on (tokio's `yield_now`, without tokio).
pub fn yield_now() -> impl Future<Output = ()> + Send {
    struct YieldNow(bool);
    impl Future for YieldNow {
        type Output = ();
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            if self.0 {
                return std::task::Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
    YieldNow(false)
}

/// A host future, where its result goes (the guest thread waits on the other end), and a token
/// that resolves (cancelled) as soon as the guest stops waiting (its deadline passed).
type Pending = (
    HostFuture,
    std_mpsc::SyncSender<Result<Finish, HostError>>,
    oneshot::Receiver<()>,
);

thread_local! {
    /// On a guest thread serving an async call: where its async host functions send their
    /// futures.
    static LINK: RefCell<Option<mpsc::UnboundedSender<Pending>>> = const { RefCell::new(None) };
}

/// Runs `f` with `link` as this thread's executor link, removing it afterwards (also when `f`
/// unwinds).
fn with_link<T>(link: mpsc::UnboundedSender<Pending>, f: impl FnOnce() -> T) -> T {
    struct Unset;
    impl Drop for Unset {
        fn drop(&mut self) {
            LINK.with(|l| l.borrow_mut().take());
        }
    }
    LINK.with(|l| *l.borrow_mut() = Some(link));
    let _unset = Unset;
    f()
}

/// The message of a call whose future was dropped.
const CANCELLED: &str = "cancelled: the future awaiting this call was dropped";

/// On the guest thread, inside an async host function: sends `fut` to the executor awaiting
/// this call and waits for its result, at most until the call's deadline.
pub(crate) fn await_on_executor(
    cx: &mut dyn HostContext,
    fut: HostFuture,
) -> Result<Finish, HostError> {
    let link = LINK.with(|l| l.borrow().clone()).ok_or_else(|| {
        HostError::new(
            "an async host function needs an async call (AsyncSandbox, run_async): a sync \
             call has no executor to run its future",
        )
    })?;
    // Past the deadline already: the future is not started at all.
    if crate::host::past_deadline(cx) {
        return Err(HostError::Timeout);
    }
    let (tx, rx) = std_mpsc::sync_channel(1);
    // Dropped on every return below: the executor then drops the future at once.
    let (_waiting, waiting) = oneshot::channel::<()>();
    if link.unbounded_send((fut, tx, waiting)).is_err() {
        cx.state().poison();
        return Err(HostError::new(CANCELLED));
    }
    loop {
        let received = match cx.deadline() {
            None => rx
                .recv()
                .map_err(|_| std_mpsc::RecvTimeoutError::Disconnected),
            Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        match received {
            Ok(Err(e @ HostError::Panic { .. })) => {
                // As a panicking sync host function does: the sandbox must not run again.
                cx.state().poison();
                return Err(e);
            }
            Ok(r) => return r,
            Err(std_mpsc::RecvTimeoutError::Timeout) => {
                if cx.state().deadline_passed()
                    || cx.deadline().is_some_and(|d| d <= Instant::now())
                {
                    // Returning drops `_waiting`: the executor drops the future.
                    return Err(HostError::Timeout);
                }
            }
            Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                cx.state().poison();
                return Err(HostError::new(CANCELLED));
            }
        }
    }
}

/// Awaits the guest thread's result `done`, running the host futures it sends on `awaits` in
/// the meantime. A host future is dropped as soon as its guest stops waiting for it (its
/// deadline passed) or the result comes; one that panics is answered as a panicking sync host
/// function is (`host_error` naming the panic, the sandbox poisoned), never unwinding into
/// the application's task.
async fn drive<T>(
    mut awaits: mpsc::UnboundedReceiver<Pending>,
    mut done: oneshot::Receiver<T>,
) -> Result<T, Error> {
    loop {
        match select(awaits.next(), &mut done).await {
            Either::Left((Some((fut, reply, waiting)), _)) => {
                let fut = AssertUnwindSafe(fut).catch_unwind();
                match select(select(fut, waiting), &mut done).await {
                    Either::Left((Either::Left((r, _)), _)) => {
                        let r = r.unwrap_or_else(|payload| {
                            Err(HostError::Panic {
                                function: "an async host function's future".into(),
                                message: crate::host::panic_message(payload.as_ref()),
                            })
                        });
                        let _ = reply.send(r);
                    }
                    // The guest stopped waiting: the future is dropped here.
                    Either::Left((Either::Right(_), _)) => {}
                    Either::Right((t, _)) => return t.map_err(|_| guest_thread_gone()),
                }
            }
            Either::Left((None, _)) => return done.await.map_err(|_| guest_thread_gone()),
            Either::Right((t, _)) => return t.map_err(|_| guest_thread_gone()),
        }
    }
}

fn guest_thread_gone() -> Error {
    Error::host(
        HostFailure::Thread,
        "the guest thread ended without an answer (it panicked): this is a bug to report",
    )
}

/// Mappings a guest thread holds once it has called into a runtime: its stack and guard, the
/// signal stack and guard the runtime sets up per thread, Wasmer's per-thread call stack and
/// guard, and a malloc arena's share. Measured (`bench/examples/thread_cost.rs`, 200 threads
/// parked in a host call): 5.5 on Wasmtime and Wasmer Singlepass, 7.5 on Wasmer Cranelift;
/// charged as 8 on every runtime. (Without this charge, 10 000 async guests exhausted
/// `vm.max_map_count` and the runtimes aborted setting up their signal stacks.)
const GUEST_THREAD_MAPPINGS: u64 = 8;

/// Address space a guest thread holds beyond its stack (signal stack, Wasmer's call stack):
/// measured at most 0.4 MiB; charged 512 KiB.
const GUEST_THREAD_EXTRA: u64 = 512 << 10;

/// Starts a guest thread sized for `policy` (its `max_stack` plus the host's margin) running
/// `f`, detached. The thread is charged to the process budget while it lives, so many async
/// guests are refused `limit_exceeded` before the OS refuses a thread or a mapping: one
/// thread, [`GUEST_THREAD_MAPPINGS`] mappings, and its stack plus [`GUEST_THREAD_EXTRA`] of
/// address space.
///
/// `done`, if given, is dropped once `f` has returned and the thread's budget is released: what
/// a waiter on its receiver hears.
fn spawn_guest(
    policy: &Policy,
    done: Option<std_mpsc::Sender<()>>,
    f: impl FnOnce() + Send + 'static,
) -> Result<(), Error> {
    let size = usize::try_from(policy.limits.max_stack.bytes())
        .unwrap_or(usize::MAX / 2)
        .saturating_add(HOST_STACK_MARGIN);
    let mut cost = crate::budget::Cost::reservation(
        (size as u64).saturating_add(GUEST_THREAD_EXTRA),
        GUEST_THREAD_MAPPINGS,
    );
    cost.threads = 1;
    let reservation = crate::budget::reserve(cost)?;
    std::thread::Builder::new()
        .name("cage-guest-async".into())
        .stack_size(size)
        .spawn(move || {
            // Dropped in reverse order: the reservation, then `done`.
            let _done = done;
            let _reservation = reservation;
            f();
        })
        .map(drop)
        .map_err(|e| {
            Error::host_from(
                HostFailure::Thread,
                format!("cannot start a guest thread: {e}"),
                e,
            )
        })
}

/// [`crate::run`], awaited: bytes in, [`Report`] out, the guest on a fiber polled by the
/// caller's executor (runtimes with native async; the module is then checked and compiled on
/// the caller's thread, which a module the runtime's cache holds skips) or on a guest thread
/// of its own (the others), its async host functions' futures on the caller's executor. The
/// report is the one [`crate::run`] gives for the same input (outcome, fuel, output), on every
/// runtime.
pub async fn run_async(
    runtime: Arc<dyn DynRuntime>,
    bytes: Vec<u8>,
    host: HostFunctions,
    invocation: Invocation,
) -> Report {
    if runtime.capabilities().native_async {
        return crate::run::run_native_async(runtime.as_ref(), &bytes, &host, &invocation).await;
    }
    let name = runtime.name();
    let policy = runtime.policy().clone();
    let (link, awaits) = mpsc::unbounded();
    let (tx, done) = oneshot::channel();
    let spawned = spawn_guest(&policy, None, move || {
        let report = with_link(link, || {
            crate::run::run(runtime.as_ref(), &bytes, &host, &invocation)
        });
        let _ = tx.send(report);
    });
    let failed = |e: Error| Report::new(name, &e.outcome(), e.message());
    match spawned {
        Ok(()) => drive(awaits, done).await.unwrap_or_else(failed),
        Err(e) => failed(e),
    }
}

/// Work for a sandbox's guest thread.
type Job = Box<dyn FnOnce(&mut dyn DynSandbox) + Send>;

/// A sandbox awaited from async code: one store and one instance. On a runtime with
/// [`crate::Capabilities::native_async`] (Wasmtime) its guest runs on a fiber polled by the
/// awaiting task; on the others (Wasmer) on a guest thread of its own (see the
/// [module](self) for why and what each costs). `Send`: hold it in a task of a
/// multi-threaded executor. Dropping it frees the sandbox (on a guest thread, once a call in
/// progress ends).
#[derive(Debug)]
pub struct AsyncSandbox {
    guest: Guest,
    poisoned: Arc<AtomicBool>,
    runtime: RuntimeName,
    /// The module's structure, for typed calls.
    info: Arc<crate::module::ModuleInfo>,
}

/// Where an [`AsyncSandbox`]'s guest runs.
enum Guest {
    /// On a guest thread of its own, which runs these jobs; the receiver's sender is
    /// dropped once the thread has dropped the sandbox (its slot and memory are free) and
    /// released its budget; the flag is set while a job runs.
    Thread(
        std_mpsc::Sender<Job>,
        std::sync::Mutex<std_mpsc::Receiver<()>>,
        Arc<AtomicBool>,
    ),
    /// On the executor, in the guest's fiber. (The mutex is never contended: it makes the
    /// sandbox `Sync` as the thread path's is; it is reached through `get_mut`.)
    Native(std::sync::Mutex<Box<dyn DynAsyncSandbox>>),
}

impl std::fmt::Debug for Guest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Guest::Thread(..) => "Thread",
            Guest::Native(_) => "Native",
        })
    }
}

/// Marks the sandbox poisoned unless disarmed: a call's future dropped before its end.
struct PoisonOnDrop(Option<Arc<AtomicBool>>);

impl Drop for PoisonOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            p.store(true, Ordering::SeqCst);
        }
    }
}

/// The refusal of a poisoned sandbox's calls.
fn refuse_poisoned(poisoned: &AtomicBool) -> Result<(), Error> {
    if poisoned.load(Ordering::SeqCst) {
        return Err(Error::reject(
            Rejection::InvalidInvocation,
            "this sandbox is poisoned: a call's future was dropped before the call ended",
        ));
    }
    Ok(())
}

/// Awaits `call` on a native sandbox, poisoning it if the future is dropped before the end.
async fn native_call<T>(
    poisoned: &Arc<AtomicBool>,
    call: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    refuse_poisoned(poisoned)?;
    let mut guard = PoisonOnDrop(Some(poisoned.clone()));
    let r = call.await;
    guard.0 = None;
    r
}

impl AsyncSandbox {
    /// Makes a sandbox of `module` (no guest code runs yet): on the executor on a runtime with
    /// native async, else on a new guest thread.
    ///
    /// # Errors
    /// As [`crate::Module::sandbox`]; `host_failure: thread` when a guest thread cannot start.
    pub async fn new(module: &dyn DynModule) -> Result<AsyncSandbox, Error> {
        let info = Arc::new(module.info().clone());
        let runtime = module.runtime_name();
        crate::deadline::give_way().await;
        if let Some(made) = module.native_async_sandbox() {
            return Ok(AsyncSandbox {
                guest: Guest::Native(std::sync::Mutex::new(made?)),
                poisoned: Arc::new(AtomicBool::new(false)),
                runtime,
                info,
            });
        }
        let module = module.clone_box();
        let policy = module.policy().clone();
        let (jobs, queue) = std_mpsc::channel::<Job>();
        let (tx, made) = oneshot::channel();
        let (released, gone) = std_mpsc::channel::<()>();
        let busy = Arc::new(AtomicBool::new(false));
        let running = busy.clone();
        spawn_guest(&policy, Some(released), move || {
            let mut sandbox = match module.sandbox() {
                Ok(s) => {
                    let _ = tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            drop(module);
            while let Ok(job) = queue.recv() {
                running.store(true, Ordering::SeqCst);
                job(sandbox.as_mut());
                running.store(false, Ordering::SeqCst);
            }
            // Dropped before the thread's budget and `released`: the sandbox's slot is free
            // when the owner hears.
            drop(sandbox);
        })?;
        made.await.map_err(|_| guest_thread_gone())??;
        Ok(AsyncSandbox {
            guest: Guest::Thread(jobs, std::sync::Mutex::new(gone), busy),
            poisoned: Arc::new(AtomicBool::new(false)),
            runtime,
            info,
        })
    }

    /// Whether its guest runs natively on the executor (in a fiber) rather than on a guest
    /// thread of its own: see [`crate::Capabilities::native_async`].
    pub fn is_native(&self) -> bool {
        matches!(self.guest, Guest::Native(_))
    }

    /// The native sandbox, on a runtime with native async.
    fn native(&mut self) -> Option<&mut dyn DynAsyncSandbox> {
        match &mut self.guest {
            Guest::Native(s) => Some(
                s.get_mut()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .as_mut(),
            ),
            Guest::Thread(..) => None,
        }
    }

    /// The guest thread's queue.
    fn jobs(&self) -> Result<&std_mpsc::Sender<Job>, Error> {
        match &self.guest {
            Guest::Thread(jobs, ..) => Ok(jobs),
            Guest::Native(_) => Err(Error::host(
                HostFailure::Runtime,
                "a native async sandbox has no guest thread (a bug to report)",
            )),
        }
    }

    /// Runs `f` on the sandbox's guest thread, serving its async host functions' futures here.
    async fn on_guest<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut dyn DynSandbox) -> T + Send + 'static,
    ) -> Result<T, Error> {
        refuse_poisoned(&self.poisoned)?;
        let (link, awaits) = mpsc::unbounded();
        let (tx, done) = oneshot::channel();
        let job: Job = Box::new(move |sandbox| {
            // Its future was dropped before the guest thread got to it: nothing runs.
            if tx.is_canceled() {
                return;
            }
            let r = with_link(link, || f(sandbox));
            let _ = tx.send(r);
        });
        self.jobs()?.send(job).map_err(|_| guest_thread_gone())?;
        let mut guard = PoisonOnDrop(Some(self.poisoned.clone()));
        let r = drive(awaits, done).await;
        guard.0 = None;
        r
    }

    /// The runtime it runs on.
    pub fn runtime_name(&self) -> RuntimeName {
        self.runtime
    }

    /// See [`crate::Sandbox::instantiate`].
    ///
    /// # Errors
    /// As [`crate::Sandbox::instantiate`].
    pub async fn instantiate(&mut self) -> Result<(), Error> {
        let poisoned = self.poisoned.clone();
        if let Some(s) = self.native() {
            crate::deadline::give_way().await;
            return native_call(&poisoned, s.instantiate_async()).await;
        }
        self.on_guest(|s| s.instantiate()).await?
    }

    /// Calls `export` with `args` (see [`crate::Sandbox::call`]), awaiting it.
    ///
    /// # Errors
    /// As [`crate::Sandbox::call`]; `rejected: invalid_invocation` once poisoned.
    pub async fn call(&mut self, export: &str, args: &[Value]) -> Result<Vec<Value>, Error> {
        let poisoned = self.poisoned.clone();
        if let Some(s) = self.native() {
            return native_call(&poisoned, s.call_async(export, args)).await;
        }
        let (export, args) = (export.to_owned(), args.to_vec());
        self.on_guest(move |s| s.call(&export, &args)).await?
    }

    /// A typed call: `P` and `R` are checked against the export's signature before anything
    /// runs, as [`crate::Sandbox::typed`] checks them.
    ///
    /// # Errors
    /// `rejected: invalid_invocation` for a missing export or other types; as
    /// [`AsyncSandbox::call`].
    pub async fn call_typed<P, R>(&mut self, export: &str, args: P) -> Result<R, Error>
    where
        P: WasmParams + Send + 'static,
        R: WasmResults + Send + 'static,
    {
        let ty = crate::module::export_func(&self.info, export)?;
        if ty.params != P::TYPES || ty.results != R::TYPES {
            return Err(Error::reject(
                Rejection::InvalidInvocation,
                format!(
                    "`{export}` is {ty}, not ({:?}) -> ({:?})",
                    P::TYPES,
                    R::TYPES
                ),
            ));
        }
        let mut values = Vec::with_capacity(P::TYPES.len());
        args.values(&mut values);
        let out = self.call(export, &values).await?;
        R::from_values(&out).ok_or_else(|| {
            Error::host(
                HostFailure::Runtime,
                "results of other types than the signature's",
            )
        })
    }

    /// See [`crate::Sandbox::stats`].
    ///
    /// # Errors
    /// `host_failure: thread` when the guest thread is gone.
    pub async fn stats(&mut self) -> Result<Stats, Error> {
        if let Some(s) = self.native() {
            return Ok(s.stats());
        }
        self.on_guest_always(|s| s.stats()).await
    }

    /// See [`crate::Sandbox::take_output`].
    ///
    /// # Errors
    /// As [`AsyncSandbox::stats`].
    pub async fn take_output(&mut self) -> Result<Output, Error> {
        if let Some(s) = self.native() {
            return Ok(s.take_output());
        }
        self.on_guest_always(|s| s.take_output()).await
    }

    /// See [`crate::Sandbox::fuel_remaining`].
    ///
    /// # Errors
    /// As [`AsyncSandbox::stats`].
    pub async fn fuel_remaining(&mut self) -> Result<Option<u64>, Error> {
        if let Some(s) = self.native() {
            return Ok(s.fuel_remaining());
        }
        self.on_guest_always(|s| s.fuel_remaining()).await
    }

    /// See [`crate::Sandbox::set_fuel`].
    ///
    /// # Errors
    /// As [`crate::Sandbox::set_fuel`].
    pub async fn set_fuel(&mut self, fuel: u64) -> Result<(), Error> {
        let poisoned = self.poisoned.clone();
        if let Some(s) = self.native() {
            refuse_poisoned(&poisoned)?;
            return s.set_fuel(fuel);
        }
        self.on_guest(move |s| s.set_fuel(fuel)).await?
    }

    /// See [`crate::Sandbox::add_fuel`].
    ///
    /// # Errors
    /// As [`crate::Sandbox::add_fuel`].
    pub async fn add_fuel(&mut self, fuel: u64) -> Result<(), Error> {
        let poisoned = self.poisoned.clone();
        if let Some(s) = self.native() {
            refuse_poisoned(&poisoned)?;
            return s.add_fuel(fuel);
        }
        self.on_guest(move |s| s.add_fuel(fuel)).await?
    }

    /// See [`crate::Sandbox::exported_state`].
    ///
    /// # Errors
    /// As [`AsyncSandbox::stats`].
    pub async fn exported_state(&mut self) -> Result<crate::records::ExportedState, Error> {
        if let Some(s) = self.native() {
            return Ok(s.exported_state());
        }
        self.on_guest_always(|s| s.exported_state()).await
    }

    /// Runs `f` with the sandbox's per-sandbox application data (see
    /// [`crate::Sandbox::extensions`]): what its host functions reach through
    /// [`HostContext::data`]. Insert it before the calls that need it, read it after.
    ///
    /// # Errors
    /// As [`AsyncSandbox::stats`].
    pub async fn with_extensions<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut crate::state::Extensions) -> T + Send + 'static,
    ) -> Result<T, Error> {
        if let Some(s) = self.native() {
            return Ok(f(s.extensions()));
        }
        // A panic in `f` reaches the caller, as on the native path, and the guest thread lives.
        let r = self
            .on_guest_always(move |s| {
                std::panic::catch_unwind(AssertUnwindSafe(|| f(s.extensions())))
            })
            .await?;
        Ok(r.unwrap_or_else(|payload| std::panic::resume_unwind(payload)))
    }

    /// Whether a call's future was dropped before the call ended (the sandbox refuses calls).
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::SeqCst)
    }

    /// [`AsyncSandbox::on_guest`] for reading counters, also once poisoned.
    async fn on_guest_always<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut dyn DynSandbox) -> T + Send + 'static,
    ) -> Result<T, Error> {
        let (tx, done) = oneshot::channel();
        let job: Job = Box::new(move |s| {
            let _ = tx.send(f(s));
        });
        self.jobs()?.send(job).map_err(|_| guest_thread_gone())?;
        done.await.map_err(|_| guest_thread_gone())
    }
}

/// How long dropping an idle thread-path sandbox waits for its guest thread to free it.
const RELEASE_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

impl Drop for AsyncSandbox {
    /// On the thread path, an idle sandbox (its guest thread running no job) is freed before
    /// the drop returns, as a sync sandbox is, so its `max_instances` slot, memory and thread
    /// budget can be taken again at once: the guest thread, idle in its queue (or skipping
    /// the job of a call whose future was dropped before it started), drops it within
    /// microseconds, waited for at most [`RELEASE_WAIT`] on the dropping thread. A sandbox
    /// whose guest is still running a call (its future was dropped) is freed when that call
    /// stops, without waiting for it.
    fn drop(&mut self) {
        let Guest::Thread(jobs, gone, busy) = &mut self.guest else {
            return;
        };
        // Closing the queue ends the guest thread's loop.
        let (closed, _) = std_mpsc::channel();
        drop(std::mem::replace(jobs, closed));
        if !busy.load(Ordering::SeqCst) {
            let gone = gone
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = gone.recv_timeout(RELEASE_WAIT);
        }
    }
}
