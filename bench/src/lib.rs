//! Comparative benchmarks: one set of workloads for `cage bench` and for `cargo bench`
//! (criterion), so both measure the same code path.
//!
//! A [`Case`] is one workload in one limits configuration on one [`Target`]: a Cage runtime,
//! the same runtime through its own API with no Cage in between (`raw-…`, for the abstraction
//! overhead), or the algorithm compiled natively (`native`). [`Case::prepare`] does the set-up
//! (compile, instantiate, check the result once) and hands a closure that runs one iteration to
//! a measuring function: [`measure`] for the CLI, criterion's `Bencher::iter` for `cargo bench`.
//!
//! ```
//! use cage_bench::{Budget, Selection, plan};
//! let cases = plan(&Selection { filter: Some("call/trivial/plain".into()), ..Selection::default() });
//! let case = cases.iter().find(|c| c.target.name() == "wasmtime").unwrap();
//! let summary = case.prepare(&mut |iter| cage_bench::measure(iter, &Budget::smoke())).unwrap().unwrap();
//! assert!(summary.median_ns > 0.0);
//! ```

pub mod calibrate;
mod exec;
pub mod many_guests;
mod measure;
pub mod programs;
mod raw;
pub mod report;
pub mod workloads;

use std::time::Duration;

pub use measure::{Budget, Summary, measure};
pub use workloads::Source;

use cage_core::Policy;

/// Fuel given to a sandbox when fuel is on: enough for every iteration of a run, never hit.
pub const FUEL_BUDGET: u64 = 1 << 60;
/// Deadline per call when the deadline is on: never hit, it only switches the mechanism on.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// One iteration of a prepared case: an error stops the measurement.
pub type Iteration<'a> = dyn FnMut() -> Result<(), String> + 'a;

/// What a case's set-up hands its iteration to.
type Runner<'a> = dyn FnMut(&mut Iteration<'_>) + 'a;

/// What a workload measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// Validation and compilation of a module (cold: Cage keeps no compiled-module cache).
    Compile,
    /// A fresh sandbox per request: create, instantiate, call a trivial export, drop.
    Instantiate,
    /// One call of a trivial export on a live instance: the per-call overhead.
    Call,
    /// A guest loop calling a host function.
    HostCall,
    /// A compute kernel, one call on a live instance.
    Kernel,
    /// Many concurrent guests on a 2-thread executor: one iteration is a whole batch
    /// ([`many_guests`]); `arg` is the number of guests.
    Async,
}

impl Group {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Group::Compile => "compile",
            Group::Instantiate => "instantiate",
            Group::Call => "call",
            Group::HostCall => "hostcall",
            Group::Kernel => "kernel",
            Group::Async => "async",
        }
    }
}

/// A native implementation of a kernel.
pub type NativeFn = fn(i32) -> i32;

/// One workload: a module, the export `run` called with one `i32`, the expected result.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Short name: `fib`, `sieve`, `matmul`, `indirect`, `small`, `large`, `trivial`, `bump`, …
    pub name: &'static str,
    /// What it measures.
    pub group: Group,
    /// One line for docs/benchmarks.md and `--help`.
    pub about: &'static str,
    /// The module.
    pub source: Source,
    /// The argument of `run`.
    pub arg: i32,
    /// What `run(arg)` returns (unused for compile workloads).
    pub expect: i32,
    /// The same algorithm in Rust, for the native baseline.
    pub native: Option<NativeFn>,
    /// How Cage calls the guest; the raw baselines are typed calls whatever this says.
    pub path: CallPath,
    /// Host functions made with `cage::host_fn` (each runtime's typed host-function path)
    /// instead of `HostFunc::new` (the dynamic `&[Value]` closure).
    pub typed_host: bool,
    /// Compile workloads only: which cache answers.
    pub cache: CacheUse,
    /// Instantiate workloads: threads making requests at once. The measured thread is one of
    /// them; the others run the same requests for as long as it is measured, so its time per
    /// request is the time under that much parallel load (throughput = threads / time).
    pub threads: usize,
}

/// Which compiled-module cache a compile workload uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheUse {
    /// None: the runtime's memory cache is off; every compile is cold.
    Cold,
    /// The runtime's memory cache (the default): the module was compiled before by the same
    /// runtime.
    Memory,
    /// The disk cache, memory cache off: each compile reads, authenticates and loads the entry
    /// (what a new process with `cage run --cache` does).
    Disk,
}

/// How Cage calls `run`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallPath {
    /// `Sandbox::call("run", &[Value])` (dynamic dispatch): the convenience call.
    Name,
    /// A handle from `Sandbox::func("run")` and `call_func` with a reused result buffer: the
    /// untyped call with no lookup and no allocation.
    Handle,
    /// A typed handle from `Sandbox::typed::<(i32,), i32>("run")`.
    Typed,
}

/// Cores available to the process (at least 2, so that the parallel workload is parallel).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
}

/// Every workload, in report order.
pub fn workloads() -> Vec<Workload> {
    use workloads::*;
    let kernel = |name, about, source, arg, f: NativeFn| Workload {
        name,
        group: Group::Kernel,
        about,
        source,
        arg,
        expect: f(arg),
        native: Some(f),
        path: CallPath::Name,
        typed_host: false,
        cache: CacheUse::Cold,
        threads: 1,
    };
    // `async/many-guests`: one batch of guests per iteration (`arg` guests).
    let batch = |name, about| Workload {
        name,
        group: Group::Async,
        about,
        source: Source::Wat(many_guests::GUEST_WAT),
        arg: many_guests::GUESTS as i32,
        expect: 0,
        native: None,
        path: CallPath::Name,
        typed_host: false,
        cache: CacheUse::Cold,
        threads: many_guests::THREADS,
    };
    vec![
        Workload {
            name: "small",
            group: Group::Compile,
            about: "compile indirect.wat (5 functions, a table, ~300 bytes)",
            source: Source::Wat(INDIRECT_WAT),
            arg: 0,
            expect: 0,
            native: None,
            path: CallPath::Name,
            typed_host: false,
            cache: CacheUse::Cold,
            threads: 1,
        },
        Workload {
            name: "large",
            group: Group::Compile,
            about: "compile a generated module: 2 000 functions, ~2.4 MB of code",
            source: Source::Large,
            arg: 0,
            expect: 0,
            native: None,
            path: CallPath::Name,
            typed_host: false,
            cache: CacheUse::Cold,
            threads: 1,
        },
        Workload {
            name: "small/cached",
            group: Group::Compile,
            about: "compile indirect.wat again on the same runtime: its memory cache answers",
            source: Source::Wat(INDIRECT_WAT),
            arg: 0,
            expect: 0,
            native: None,
            path: CallPath::Name,
            typed_host: false,
            cache: CacheUse::Memory,
            threads: 1,
        },
        Workload {
            name: "large/cached",
            group: Group::Compile,
            about: "compile the generated large module again on the same runtime (memory cache)",
            source: Source::Large,
            arg: 0,
            expect: 0,
            native: None,
            path: CallPath::Name,
            typed_host: false,
            cache: CacheUse::Memory,
            threads: 1,
        },
        Workload {
            name: "small/disk",
            group: Group::Compile,
            about: "compile indirect.wat from the disk cache: read, authenticate, load",
            source: Source::Wat(INDIRECT_WAT),
            arg: 0,
            expect: 0,
            native: None,
            path: CallPath::Name,
            typed_host: false,
            cache: CacheUse::Disk,
            threads: 1,
        },
        Workload {
            name: "large/disk",
            group: Group::Compile,
            about: "compile the generated large module from the disk cache",
            source: Source::Large,
            arg: 0,
            expect: 0,
            native: None,
            path: CallPath::Name,
            typed_host: false,
            cache: CacheUse::Disk,
            threads: 1,
        },
        Workload {
            name: "trivial",
            group: Group::Instantiate,
            about: "new sandbox + instantiate trivial.wat (memory, data segment) + typed call of run + drop",
            source: Source::Wat(TRIVIAL_WAT),
            arg: 41,
            expect: 42,
            native: None,
            path: CallPath::Typed,
            typed_host: false,
            cache: CacheUse::Cold,
            threads: 1,
        },
        Workload {
            name: "trivial-parallel",
            group: Group::Instantiate,
            about: "the trivial request on one thread while every other core makes the same requests: time per request under parallel load (throughput = cores / time)",
            source: Source::Wat(TRIVIAL_WAT),
            arg: 41,
            expect: 42,
            native: None,
            path: CallPath::Typed,
            typed_host: false,
            cache: CacheUse::Cold,
            threads: cores(),
        },
        Workload {
            name: "trivial",
            group: Group::Call,
            about: "one call of run(x) = x + 1 on a live instance",
            source: Source::Wat(TRIVIAL_WAT),
            arg: 41,
            expect: 42,
            native: None,
            path: CallPath::Name,
            typed_host: false,
            cache: CacheUse::Cold,
            threads: 1,
        },
        Workload {
            name: "trivial-handle",
            group: Group::Call,
            about: "one untyped call through a handle (Sandbox::func + call_func, reused buffer) of run(x) = x + 1",
            source: Source::Wat(TRIVIAL_WAT),
            arg: 41,
            expect: 42,
            native: None,
            path: CallPath::Handle,
            typed_host: false,
            cache: CacheUse::Cold,
            threads: 1,
        },
        Workload {
            name: "trivial-typed",
            group: Group::Call,
            about: "one typed call (Sandbox::typed::<(i32,), i32>) of run(x) = x + 1 on a live instance",
            source: Source::Wat(TRIVIAL_WAT),
            arg: 41,
            expect: 42,
            native: None,
            path: CallPath::Typed,
            typed_host: false,
            cache: CacheUse::Cold,
            threads: 1,
        },
        Workload {
            name: "bump",
            group: Group::HostCall,
            about: "10 000 guest→host calls of env.bump(x) = x + 1 in one run",
            source: Source::Wat(HOSTCALL_WAT),
            arg: HOSTCALL_N,
            expect: HOSTCALL_N,
            native: None,
            path: CallPath::Name,
            typed_host: false,
            cache: CacheUse::Cold,
            threads: 1,
        },
        Workload {
            name: "bump-typed",
            group: Group::HostCall,
            about: "10 000 guest→host calls of env.bump(x) = x + 1, a typed host function (cage::host_fn)",
            source: Source::Wat(HOSTCALL_WAT),
            arg: HOSTCALL_N,
            expect: HOSTCALL_N,
            native: None,
            path: CallPath::Name,
            typed_host: true,
            cache: CacheUse::Cold,
            threads: 1,
        },
        kernel(
            "fib",
            "recursive fib(27): ~630 000 calls",
            Source::Wat(FIB_WAT),
            FIB_N,
            fib,
        ),
        kernel(
            "sieve",
            "primes below 1 000 000 (byte array, memory.fill)",
            Source::Wat(SIEVE_WAT),
            SIEVE_N,
            sieve,
        ),
        kernel(
            "matmul",
            "128×128 i32 matrix multiply in linear memory",
            Source::Wat(MATMUL_WAT),
            MATMUL_N,
            matmul,
        ),
        kernel(
            "indirect",
            "1 000 000 call_indirect through a 4-entry table",
            Source::Wat(INDIRECT_WAT),
            INDIRECT_N,
            indirect,
        ),
        batch(
            "many-guests",
            "10 000 guests at once on 2 tokio threads (1 000 with --quick): ~1 ms compute, await a host fn sleeping 10 ms (AsyncSandbox, HostFunc::new_async), ~1 ms; one batch per iteration, ideal 10.01 s (1.01 s)",
        ),
        batch(
            "many-guests/spawn-blocking",
            "async/many-guests through the sync API on spawn_blocking (the host fn sleeps its thread)",
        ),
    ]
}

/// Which of Cage's limits are switched on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Limits {
    /// `limits.fuel = Some(FUEL_BUDGET)`.
    pub fuel: bool,
    /// `limits.timeout = Some(DEADLINE)`: epoch interruption (Wasmtime), the watchdog (Wasmer).
    pub deadline: bool,
}

impl Limits {
    /// No fuel, no deadline.
    pub const PLAIN: Limits = Limits {
        fuel: false,
        deadline: false,
    };
    /// The four combinations, `plain` first.
    pub const ALL: [Limits; 4] = [
        Limits::PLAIN,
        Limits {
            fuel: true,
            deadline: false,
        },
        Limits {
            fuel: false,
            deadline: true,
        },
        Limits {
            fuel: true,
            deadline: true,
        },
    ];

    /// `plain`, `fuel`, `deadline` or `fuel+deadline`.
    pub fn name(self) -> &'static str {
        match (self.fuel, self.deadline) {
            (false, false) => "plain",
            (true, false) => "fuel",
            (false, true) => "deadline",
            (true, true) => "fuel+deadline",
        }
    }

    /// The default policy with these limits.
    pub fn policy(self) -> Policy {
        Policy::default()
            .with_fuel(self.fuel.then_some(FUEL_BUDGET))
            .with_timeout(self.deadline.then_some(DEADLINE))
    }
}

/// The raw Wasmtime baseline with its pooling allocator at its defaults
/// (`raw-wasmtime-pooling`, instantiation workloads only): what Cage's pooled Wasmtime is next
/// to, beside the default allocator (`raw-wasmtime`) the goals are measured against.
pub const RAW_WASMTIME_POOLING: &str = "wasmtime-pooling";

/// What runs a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A Cage runtime by name (`wasmtime`, `wasmer-cranelift`, `wasmer-singlepass`).
    Cage(&'static str),
    /// The same runtime through its own API, configured as Cage configures it with no limits
    /// (or [`RAW_WASMTIME_POOLING`]).
    Raw(&'static str),
    /// The algorithm compiled for the host.
    Native,
}

impl Target {
    /// `wasmtime`, `raw-wasmtime`, …, `native`.
    pub fn name(self) -> String {
        match self {
            Target::Cage(n) => n.to_owned(),
            Target::Raw(n) => format!("raw-{n}"),
            Target::Native => "native".to_owned(),
        }
    }

    /// `cage`, `raw` or `native`.
    pub fn kind(self) -> &'static str {
        match self {
            Target::Cage(_) => "cage",
            Target::Raw(_) => "raw",
            Target::Native => "native",
        }
    }

    /// The Cage runtime this target is or mirrors.
    pub fn runtime(self) -> Option<&'static str> {
        match self {
            Target::Cage(n) => Some(n),
            Target::Raw(n) => Some(n.strip_suffix("-pooling").unwrap_or(n)),
            Target::Native => None,
        }
    }
}

/// One measurement: a workload, its limits, a target.
#[derive(Clone, Debug)]
pub struct Case {
    /// The workload.
    pub workload: Workload,
    /// The limits switched on (always `plain` for raw and native targets, and for compiling).
    pub limits: Limits,
    /// What runs it.
    pub target: Target,
}

impl Case {
    /// `group/workload/limits`, e.g. `kernel/fib/fuel`; compile cases are `compile/small`,
    /// `compile/large` (no limits: Cage's compile time with fuel is not measured).
    pub fn id(&self) -> String {
        match self.workload.group {
            Group::Compile => format!("compile/{}", self.workload.name),
            g => format!("{}/{}/{}", g.name(), self.workload.name, self.limits.name()),
        }
    }

    /// Sets the case up, checks its result once, then calls `measure` with a closure that runs
    /// one iteration, and returns what `measure` returned. Everything runs on the calling
    /// thread (Wasmer's stores are not `Send`); call it from a thread with room for
    /// `max_stack` (see [`cage_core::on_guest_thread`]).
    ///
    /// # Errors
    /// The runtime is not compiled in, set-up fails, or the first result is wrong.
    pub fn prepare<T>(
        &self,
        measure: &mut dyn FnMut(&mut Iteration<'_>) -> T,
    ) -> Result<T, String> {
        let mut out = None;
        let mut run = |iter: &mut Iteration<'_>| {
            out = Some(measure(iter));
        };
        match self.target {
            Target::Cage(name) => exec::prepare(self, name, &mut run)?,
            Target::Raw(name) => raw::prepare(self, name, &mut run)?,
            Target::Native => {
                let f = self
                    .workload
                    .native
                    .ok_or_else(|| format!("{} has no native version", self.id()))?;
                let (arg, expect) = (self.workload.arg, self.workload.expect);
                let mut iter = || check(f(std::hint::black_box(arg)), expect);
                iter()?;
                run(&mut iter);
            }
        }
        out.ok_or_else(|| format!("{}: nothing measured", self.id()))
    }
}

fn check(got: i32, expect: i32) -> Result<(), String> {
    if got == expect {
        Ok(())
    } else {
        Err(format!("run returned {got}, expected {expect}"))
    }
}

/// Which cases to run.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Cage runtimes (each brings its `raw-` twin); raw names and `native` may be listed too.
    /// Empty: every runtime compiled in, their raw twins, and native.
    pub runtimes: Vec<String>,
    /// Only cases whose id contains this.
    pub filter: Option<String>,
    /// Smaller batches for the heavy workloads: `async/many-guests` runs
    /// [`many_guests::GUESTS_QUICK`] guests instead of [`many_guests::GUESTS`] (`--quick`,
    /// criterion).
    pub quick: bool,
}

/// The Wasm targets compiled into this build, Cage first then raw, plus `native`.
pub fn all_targets() -> Vec<Target> {
    let cage = cage::available_runtimes();
    let mut v: Vec<Target> = cage.iter().map(|n| Target::Cage(n.as_str())).collect();
    for n in &cage {
        v.push(Target::Raw(n.as_str()));
        if *n == cage::RuntimeName::Wasmtime {
            v.push(Target::Raw(RAW_WASMTIME_POOLING));
        }
    }
    v.push(Target::Native);
    v
}

/// The cases of `selection`, grouped by case id, targets in [`all_targets`] order.
pub fn plan(selection: &Selection) -> Vec<Case> {
    let wanted = |t: Target| {
        selection.runtimes.is_empty()
            || selection.runtimes.iter().any(|r| {
                let r = if r == "wasmer" { "wasmer-cranelift" } else { r };
                r == t.name() || (t.kind() == "raw" && t.runtime() == Some(r))
            })
    };
    let targets: Vec<Target> = all_targets().into_iter().filter(|t| wanted(*t)).collect();
    let mut cases = Vec::new();
    for w in workloads() {
        let mut w = w;
        if w.group == Group::Async && selection.quick {
            w.arg = many_guests::GUESTS_QUICK as i32;
        }
        // A batch of guests is measured without limits: the deadline and fuel cases of every
        // other group say what those cost.
        let limits: &[Limits] = if matches!(w.group, Group::Compile | Group::Async) {
            &[Limits::PLAIN]
        } else {
            &Limits::ALL
        };
        for &l in limits {
            for &t in &targets {
                let applies = match t {
                    Target::Cage(_) => true,
                    // The runtimes' own caches (`Module::deserialize`) are `unsafe` to feed
                    // from disk: no raw twin for cached compiles.
                    Target::Raw(n) => {
                        w.group != Group::Async
                            && l == Limits::PLAIN
                            && w.threads == 1
                            && w.cache == CacheUse::Cold
                            && (n != RAW_WASMTIME_POOLING || w.group == Group::Instantiate)
                    }
                    Target::Native => l == Limits::PLAIN && w.native.is_some(),
                };
                let case = Case {
                    workload: w.clone(),
                    limits: l,
                    target: t,
                };
                let keep = selection
                    .filter
                    .as_deref()
                    .is_none_or(|f| case.id().contains(f));
                if applies && keep {
                    cases.push(case);
                }
            }
        }
    }
    cases
}
