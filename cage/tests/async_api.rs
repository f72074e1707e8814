//! The async API on every runtime: async host functions whose futures run on the application's
//! executor and read and write guest memory, many guests on two executor threads, deadlines
//! that count awaited time and drop the host future, cancellation that poisons, typed calls,
//! spinning guests that do not starve the executor, and `Send` futures.
#![cfg(feature = "async")]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cage::async_api::{Finish, HostFuture};
use cage::{
    AsyncSandbox, DynModule, FuncType, HostContext, HostError, HostFunc, HostFunctions, Policy,
    Rejection, RuntimeName, Trap, ValType, Value,
};

/// `handle(x)`: burns some fuel, stores `x` at 0, calls `host.fetch(0)` (which reads it, awaits,
/// writes `2x` at 4 and returns 7), burns again, returns `mem[4] + 7`.
const GUEST: &str = r#"(module
  (import "host" "fetch" (func $fetch (param i32) (result i32)))
  (memory (export "memory") 1)
  (func $burn (param $n i32)
    (loop $l (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n))))
  (func (export "handle") (param $x i32) (result i32)
    (call $burn (i32.const 1000))
    (i32.store (i32.const 0) (local.get $x))
    (local.set $x (call $fetch (i32.const 0)))
    (call $burn (i32.const 1000))
    (i32.add (i32.load (i32.const 4)) (local.get $x)))
  (func (export "spin") (loop br 0))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))"#;

/// Set when a `fetch` future is dropped before it finished.
struct DropFlag(Arc<AtomicBool>, bool);
impl Drop for DropFlag {
    fn drop(&mut self) {
        if !self.1 {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

/// `host.fetch(ptr)`: reads an i32 at `ptr` on the guest's thread, sleeps `sleep` on the
/// executor, writes twice the value at `ptr + 4` back on the guest's thread, returns 7.
fn fetch(sleep: Duration, dropped: Arc<AtomicBool>) -> HostFunc {
    let ty = FuncType::new([ValType::I32], [ValType::I32]);
    HostFunc::new_async(
        "host",
        "fetch",
        ty,
        move |cx: &mut dyn HostContext, args: &[Value]| {
            let [Value::I32(ptr)] = args else {
                return Err(HostError::new("bad arguments"));
            };
            let ptr = u64::from(*ptr as u32);
            let mut word = [0u8; 4];
            cx.read(ptr, &mut word)?;
            let v = i32::from_le_bytes(word);
            let flag = DropFlag(dropped.clone(), false);
            let fut: HostFuture = Box::pin(async move {
                // The whole guard moves into the future (not just its field).
                let mut flag = flag;
                tokio::time::sleep(sleep).await;
                flag.1 = true;
                let finish: Finish = Box::new(move |cx: &mut dyn HostContext| {
                    cx.write(ptr + 4, &(v * 2).to_le_bytes())?;
                    Ok(vec![Value::I32(7)])
                });
                Ok(finish)
            });
            Ok(fut)
        },
    )
    .with_fuel_cost(10)
}

fn executor(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_time()
        .build()
        .expect("a tokio runtime")
}

fn module(name: RuntimeName, policy: &Policy, host: &HostFunctions) -> Arc<dyn DynModule> {
    let rt = cage::runtime_named(name, policy).expect("runtime");
    let wasm = wat::parse_str(GUEST).expect("wat");
    Arc::from(rt.compile(&wasm, host).expect("compile"))
}

/// [`GUEST`] on `name` under `policy`, its `host.fetch` taking 1 ms (nobody watches it drop).
fn fetching_module(name: RuntimeName, policy: &Policy) -> Arc<dyn DynModule> {
    let host = HostFunctions::new().with(fetch(
        Duration::from_millis(1),
        Arc::new(AtomicBool::new(false)),
    ));
    module(name, policy, &host)
}

/// A new async sandbox of `module`, instantiated.
async fn instantiated(module: &dyn DynModule) -> AsyncSandbox {
    let mut sb = AsyncSandbox::new(module).await.unwrap();
    sb.instantiate().await.unwrap();
    sb
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn many_guests_await_host_futures_on_two_threads_with_identical_fuel() {
    let policy = Policy::default()
        .with_fuel(Some(1_000_000))
        .with_timeout(Some(Duration::from_secs(20)));
    let exec = executor(2);
    let mut fuel_by_runtime = Vec::new();
    for name in cage::available_runtimes() {
        let dropped = Arc::new(AtomicBool::new(false));
        let host = HostFunctions::new().with(fetch(Duration::from_millis(10), dropped.clone()));
        let module = module(name, &policy, &host);
        let done = Arc::new(AtomicUsize::new(0));
        let guests = 200;
        let start = Instant::now();
        let fuels = exec.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..guests {
                let module = module.clone();
                let done = done.clone();
                let task = async move {
                    let mut sb = AsyncSandbox::new(module.as_ref()).await?;
                    sb.instantiate().await?;
                    let out = sb.call("handle", &[Value::I32(i)]).await?;
                    assert_eq!(out, [Value::I32(2 * i + 7)]);
                    done.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, cage::Error>(sb.stats().await?.fuel_consumed)
                };
                assert_send(&task);
                tasks.push(tokio::spawn(task));
            }
            let mut fuels = Vec::new();
            for t in tasks {
                fuels.push(t.await.expect("task").expect("guest"));
            }
            fuels
        });
        let took = start.elapsed();
        assert_eq!(done.load(Ordering::SeqCst), guests as usize);
        assert!(!dropped.load(Ordering::SeqCst), "no future dropped");
        // Every guest waited 10 ms at the same time, not one after another (200 × 10 ms = 2 s).
        assert!(took < Duration::from_millis(1500), "{name}: {took:?}");
        assert!(fuels.windows(2).all(|w| w[0] == w[1]), "{name}: {fuels:?}");
        fuel_by_runtime.push((name, fuels[0]));
    }
    assert!(
        fuel_by_runtime.windows(2).all(|w| w[0].1 == w[1].1),
        "fuel differs between runtimes: {fuel_by_runtime:?}"
    );
}

#[test]
fn a_guest_awaiting_past_its_deadline_times_out_and_the_host_future_is_dropped() {
    let policy = Policy::default()
        .with_fuel(Some(1_000_000))
        .with_timeout(Some(Duration::from_millis(100)));
    let exec = executor(2);
    for name in cage::available_runtimes() {
        let dropped = Arc::new(AtomicBool::new(false));
        let host = HostFunctions::new().with(fetch(Duration::from_secs(5), dropped.clone()));
        let module = module(name, &policy, &host);
        let (result, took) = exec.block_on(async {
            let mut sb = instantiated(module.as_ref()).await;
            let start = Instant::now();
            let r = sb.call("handle", &[Value::I32(1)]).await;
            (r, start.elapsed())
        });
        let e = result.unwrap_err();
        assert_eq!(e.as_trap(), Some(Trap::Timeout), "{name}: {e:?}");
        assert!(took < Duration::from_millis(1000), "{name}: {took:?}");
        assert!(took >= Duration::from_millis(100), "{name}: early {took:?}");
        assert!(
            dropped.load(Ordering::SeqCst),
            "{name}: the host future was not dropped"
        );
    }
}

#[test]
fn dropping_a_call_future_poisons_the_sandbox() {
    let policy = Policy::default().with_fuel(Some(1_000_000));
    let exec = executor(2);
    for name in cage::available_runtimes() {
        let dropped = Arc::new(AtomicBool::new(false));
        let host = HostFunctions::new().with(fetch(Duration::from_secs(30), dropped.clone()));
        let module = module(name, &policy, &host);
        exec.block_on(async {
            let mut sb = instantiated(module.as_ref()).await;
            // Give up on the call after 50 ms: its future is dropped mid-await.
            let r = tokio::time::timeout(
                Duration::from_millis(50),
                sb.call("handle", &[Value::I32(1)]),
            )
            .await;
            assert!(r.is_err(), "{name}: the call should still be waiting");
            assert!(sb.is_poisoned(), "{name}");
            let e = sb
                .call("add", &[Value::I32(1), Value::I32(2)])
                .await
                .unwrap_err();
            assert_eq!(
                e.as_rejection(),
                Some(Rejection::InvalidInvocation),
                "{name}"
            );
            // Counters stay readable; the guest thread is free again.
            assert!(sb.stats().await.unwrap().fuel_consumed.is_some());
        });
        assert!(dropped.load(Ordering::SeqCst), "{name}");
    }
}

#[test]
fn typed_calls_and_sync_calls_of_async_host_functions() {
    let policy = Policy::default().with_fuel(Some(1_000_000));
    let exec = executor(1);
    for name in cage::available_runtimes() {
        let module = fetching_module(name, &policy);
        exec.block_on(async {
            let mut sb = instantiated(module.as_ref()).await;
            let r: i32 = sb
                .call_typed::<(i32, i32), i32>("add", (2, 3))
                .await
                .unwrap();
            assert_eq!(r, 5);
            let r: i32 = sb.call_typed::<(i32,), i32>("handle", (4,)).await.unwrap();
            assert_eq!(r, 15);
            // Other types are refused before anything runs.
            let before = sb.stats().await.unwrap().fuel_consumed;
            let e = sb
                .call_typed::<(i64,), i32>("handle", (4,))
                .await
                .unwrap_err();
            assert_eq!(e.as_rejection(), Some(Rejection::InvalidInvocation));
            assert_eq!(sb.stats().await.unwrap().fuel_consumed, before);
        });
        // A sync call has no executor for the host future: a host error, never a hang.
        let mut sb = module.sandbox().unwrap();
        sb.instantiate().unwrap();
        let e = sb.call("handle", &[Value::I32(1)]).unwrap_err();
        assert_eq!(e.as_trap(), Some(Trap::HostError), "{name}: {e:?}");
        assert!(e.to_string().contains("async call"), "{e}");
    }
}

#[test]
fn spinning_guests_do_not_starve_the_executor() {
    let policy = Policy::default()
        .with_fuel(None)
        .with_timeout(Some(Duration::from_millis(400)));
    let exec = executor(2);
    for name in cage::available_runtimes() {
        let module = fetching_module(name, &policy);
        let late = exec.block_on(async {
            let mut spinners = Vec::new();
            for _ in 0..4 {
                let module = module.clone();
                spinners.push(tokio::spawn(async move {
                    let mut sb = instantiated(module.as_ref()).await;
                    sb.call("spin", &[]).await.unwrap_err().as_trap()
                }));
            }
            // A timer on the same two executor threads still fires on time.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let start = Instant::now();
            tokio::time::sleep(Duration::from_millis(50)).await;
            let late = start.elapsed().saturating_sub(Duration::from_millis(50));
            for s in spinners {
                assert_eq!(s.await.unwrap(), Some(Trap::Timeout), "{name}");
            }
            late
        });
        assert!(
            late < Duration::from_millis(100),
            "{name}: timer {late:?} late"
        );
    }
}

/// `wait(ms)` awaits `host.wait(ms)`; `boom()` awaits a host future that panics.
const WAITER: &str = r#"(module
  (import "host" "wait" (func $w (param i32)))
  (import "host" "boom" (func $b))
  (func (export "wait") (param i32) (call $w (local.get 0)))
  (func (export "boom") (call $b)))"#;

#[test]
fn a_timed_out_host_future_is_dropped_at_once_and_a_panicking_one_poisons() {
    let policy = Policy::default()
        .with_fuel(Some(1_000_000))
        .with_timeout(Some(Duration::from_millis(100)));
    let exec = executor(2);
    for name in cage::available_runtimes() {
        let dropped = Arc::new(AtomicBool::new(false));
        let d = dropped.clone();
        let wait = HostFunc::new_async(
            "host",
            "wait",
            FuncType::new([ValType::I32], []),
            move |_cx: &mut dyn HostContext, args: &[Value]| {
                let ms = match args {
                    [Value::I32(ms)] => u64::from(*ms as u32),
                    _ => return Err(HostError::new("bad arguments")),
                };
                let flag = DropFlag(d.clone(), false);
                let fut: HostFuture = Box::pin(async move {
                    let mut flag = flag;
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    flag.1 = true;
                    let finish: Finish = Box::new(|_cx: &mut dyn HostContext| Ok(Vec::new()));
                    Ok(finish)
                });
                Ok(fut)
            },
        );
        let boom = HostFunc::new_async(
            "host",
            "boom",
            FuncType::new([], []),
            |_cx: &mut dyn HostContext, _args: &[Value]| {
                let fut: HostFuture = Box::pin(async { panic!("the host future broke") });
                Ok(fut)
            },
        );
        let host = HostFunctions::new().with(wait).with(boom);
        let rt = cage::runtime_named(name, &policy).unwrap();
        let module: Arc<dyn DynModule> =
            Arc::from(rt.compile(&wat::parse_str(WAITER).unwrap(), &host).unwrap());
        exec.block_on(async {
            let mut sb = instantiated(module.as_ref()).await;
            let e = sb.call("wait", &[Value::I32(5000)]).await.unwrap_err();
            assert_eq!(e.as_trap(), Some(Trap::Timeout), "{name}");
            // Dropped as the guest stopped waiting, not 5 s later.
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(
                dropped.load(Ordering::SeqCst),
                "{name}: the stale future still runs"
            );
            // The next async host call is not stuck behind it.
            sb.call("wait", &[Value::I32(1)]).await.unwrap();
            // A panicking host future is the guest's host_error and poisons the sandbox; it
            // never unwinds into this task.
            let e = sb.call("boom", &[]).await.unwrap_err();
            assert_eq!(e.as_trap(), Some(Trap::HostError), "{name}: {e:?}");
            assert!(e.to_string().contains("the host future broke"), "{e}");
            let e = sb.call("wait", &[Value::I32(1)]).await.unwrap_err();
            assert_eq!(
                e.as_rejection(),
                Some(Rejection::InvalidInvocation),
                "{name}: {e:?}"
            );
        });
    }
}

/// Threads of this process, from `/proc/self/task`.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
}

/// Runtimes whose async guests run on fibers polled by the executor.
fn native_runtimes(policy: &Policy) -> Vec<RuntimeName> {
    cage::available_runtimes()
        .into_iter()
        .filter(|n| {
            cage::runtime_named(*n, policy)
                .expect("runtime")
                .capabilities()
                .native_async
        })
        .collect()
}

#[test]
fn capabilities_declare_which_runtimes_run_guests_on_fibers() {
    for name in cage::available_runtimes() {
        let caps = cage::runtime_named(name, &Policy::default())
            .unwrap()
            .capabilities()
            .clone();
        // Wasmtime's fibers; Wasmer 7.3 keeps a guest thread per async sandbox.
        assert_eq!(
            caps.native_async,
            name == RuntimeName::Wasmtime,
            "{name}: {caps:?}"
        );
    }
}

#[test]
fn native_guests_await_on_fibers_without_a_thread_each() {
    let policy = Policy::default()
        .with_fuel(Some(1_000_000))
        .with_timeout(Some(Duration::from_secs(20)));
    let exec = executor(2);
    for name in native_runtimes(&policy) {
        let dropped = Arc::new(AtomicBool::new(false));
        let host = HostFunctions::new().with(fetch(Duration::from_millis(200), dropped.clone()));
        let module = module(name, &policy, &host);
        // Warm up: the executor's threads, the runtime's pacer, the deadline timer.
        exec.block_on(async {
            let mut sb = AsyncSandbox::new(module.as_ref()).await.unwrap();
            assert!(sb.is_native(), "{name}");
            sb.instantiate().await.unwrap();
            sb.call("handle", &[Value::I32(1)]).await.unwrap();
        });
        let before = threads();
        let guests = 200;
        let (most, outs) = exec.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..guests {
                let module = module.clone();
                tasks.push(tokio::spawn(async move {
                    let mut sb = AsyncSandbox::new(module.as_ref()).await?;
                    sb.instantiate().await?;
                    sb.call("handle", &[Value::I32(i)]).await
                }));
            }
            // Every guest is parked in its host call (200 ms) while this samples the threads.
            let mut most = 0;
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                most = most.max(threads());
            }
            let mut outs = Vec::new();
            for t in tasks {
                outs.push(t.await.unwrap().unwrap());
            }
            (most, outs)
        });
        for (i, out) in outs.iter().enumerate() {
            assert_eq!(out, &[Value::I32(2 * i as i32 + 7)], "{name}");
        }
        assert!(
            most <= before + 4,
            "{name}: {before} threads before, {most} with {guests} guests in flight"
        );
    }
}

#[test]
fn a_spinning_guest_yields_to_another_guest_on_one_executor_thread() {
    let policy = Policy::default()
        .with_fuel(None)
        .with_timeout(Some(Duration::from_secs(1)));
    let exec = executor(1);
    for name in native_runtimes(&policy) {
        let module = fetching_module(name, &policy);
        let spinning = Arc::new(AtomicBool::new(false));
        let ended = Arc::new(AtomicBool::new(false));
        exec.block_on(async {
            let (m, s, e) = (module.clone(), spinning.clone(), ended.clone());
            let spinner = tokio::spawn(async move {
                let mut sb = instantiated(m.as_ref()).await;
                s.store(true, Ordering::SeqCst);
                let r = sb.call("spin", &[]).await.unwrap_err().as_trap();
                e.store(true, Ordering::SeqCst);
                r
            });
            while !spinning.load(Ordering::SeqCst) {
                tokio::task::yield_now().await;
            }
            // The spinner holds the only executor thread unless it yields.
            let m = module.clone();
            let other = tokio::spawn(async move {
                let mut sb = instantiated(m.as_ref()).await;
                sb.call("handle", &[Value::I32(3)]).await.unwrap()
            });
            assert_eq!(other.await.unwrap(), [Value::I32(13)], "{name}");
            assert!(
                !ended.load(Ordering::SeqCst),
                "{name}: the other guest ran only once the spinner ended"
            );
            assert_eq!(spinner.await.unwrap(), Some(Trap::Timeout), "{name}");
        });
    }
}

/// A waker that records that it was woken.
struct Flag(AtomicBool);
impl std::task::Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_deadline_ends_a_spinner_that_is_never_resumed() {
    let policy = Policy::default()
        .with_fuel(Some(u64::MAX >> 2))
        .with_timeout(Some(Duration::from_millis(100)));
    for name in native_runtimes(&policy) {
        let module = fetching_module(name, &policy);
        let exec = executor(1);
        let mut sb = exec.block_on(instantiated(module.as_ref()));
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = std::task::Waker::from(flag.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        {
            let mut call = std::pin::pin!(sb.call("spin", &[]));
            // The guest runs until it yields (its first yield interval), then is never polled
            // again until well past its deadline.
            assert!(call.as_mut().poll(&mut cx).is_pending(), "{name}");
            std::thread::sleep(Duration::from_millis(300));
            assert!(
                flag.0.load(Ordering::SeqCst),
                "{name}: the deadline woke the task"
            );
            let start = Instant::now();
            let std::task::Poll::Ready(r) = call.as_mut().poll(&mut cx) else {
                panic!("{name}: a guest past its deadline was resumed");
            };
            assert!(start.elapsed() < Duration::from_millis(50), "{name}");
            assert_eq!(r.unwrap_err().as_trap(), Some(Trap::Timeout), "{name}");
        }
        // A timeout, as on the sync path: the sandbox stays usable.
        assert!(!sb.is_poisoned(), "{name}");
        let r = exec.block_on(sb.call("add", &[Value::I32(2), Value::I32(3)]));
        assert_eq!(r.unwrap(), [Value::I32(5)], "{name}");
    }
}

#[test]
fn dropping_a_yielded_spinners_future_poisons_and_unwinds_it() {
    let policy = Policy::default()
        .with_fuel(Some(u64::MAX >> 2))
        .with_timeout(Some(Duration::from_secs(10)));
    for name in native_runtimes(&policy) {
        let module = fetching_module(name, &policy);
        let exec = executor(1);
        exec.block_on(async {
            let mut sb = instantiated(module.as_ref()).await;
            let r = tokio::time::timeout(Duration::from_millis(30), sb.call("spin", &[])).await;
            assert!(r.is_err(), "{name}: still spinning");
            assert!(sb.is_poisoned(), "{name}");
            let e = sb.call("add", &[Value::I32(1), Value::I32(2)]).await;
            assert_eq!(
                e.unwrap_err().as_rejection(),
                Some(Rejection::InvalidInvocation),
                "{name}"
            );
            // The fiber was unwound: the counters answer at once (a spinner interrupted
            // between Wasmtime's fuel flushes reports what was flushed, as a sync timeout
            // does).
            assert!(sb.stats().await.unwrap().fuel_consumed.is_some(), "{name}");
            assert!(sb.fuel_remaining().await.unwrap().is_some(), "{name}");
        });
    }
}

/// `burn(n)`: `n` loop iterations, long enough to yield many times.
const BURNER: &str = r#"(module
  (func (export "burn") (param $n i32) (result i32)
    (loop $l (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n)))
    (local.get $n)))"#;

#[test]
fn fuel_and_outcomes_of_yielding_guests_are_the_sync_paths() {
    let policy = Policy::default()
        .with_fuel(Some(200_000_000))
        .with_timeout(Some(Duration::from_secs(20)));
    let exec = executor(2);
    let wasm = wat::parse_str(BURNER).unwrap();
    for name in cage::available_runtimes() {
        let rt = cage::runtime_named(name, &policy).unwrap();
        let module: Arc<dyn DynModule> =
            Arc::from(rt.compile(&wasm, &HostFunctions::new()).unwrap());
        let runs: [(i32, bool); 2] = [(20_000_000, true), (i32::MAX, false)];
        for (n, returns) in runs {
            let mut sync = module.sandbox().unwrap();
            sync.instantiate().unwrap();
            let s = sync.call("burn", &[Value::I32(n)]);
            let (a, fuel) = exec.block_on(async {
                let mut sb = instantiated(module.as_ref()).await;
                let r = sb.call("burn", &[Value::I32(n)]).await;
                (r, sb.stats().await.unwrap().fuel_consumed)
            });
            assert_eq!(s.is_ok(), returns, "{name}");
            match (&s, &a) {
                (Ok(x), Ok(y)) => assert_eq!(x, y, "{name}"),
                (Err(x), Err(y)) => assert_eq!(x.outcome(), y.outcome(), "{name}"),
                _ => panic!("{name}: sync {s:?}, async {a:?}"),
            }
            assert_eq!(sync.stats().fuel_consumed, fuel, "{name}: n = {n}");
        }
    }
}
