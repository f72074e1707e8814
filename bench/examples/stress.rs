//! Many tenants until something runs out, as an operator would try it: every scenario must end
//! in typed refusals (`rejected: limit_exceeded` from the process budget, or `host_failure:
//! resources`), never an abort, a panic or a poisoned bystander, with every held sandbox still
//! answering afterwards, on every runtime.
//!
//! ```sh
//! cargo run --release -p cage-bench --example stress                 # every scenario, every runtime
//! cargo run --release -p cage-bench --example stress -- fill-twice wasmtime
//! ```
//!
//! Scenarios (each runs in a child process of its own, so that one cannot inherit another's
//! state, and an abort is seen as one):
//! - `fill-twice`: fills a runtime (`memory_reservation = "max_memory"`) until refused, checks
//!   that every held sandbox answers, drops everything, and fills a second runtime: it must
//!   reach the same count (within 2 %).
//! - `module-per-tenant`: compiles a distinct module per tenant and instantiates it, until
//!   refused; `module-per-tenant-full` the same with memories reserved whole (Wasmtime then
//!   keeps a memfd per module), and `module-per-tenant-nofile` that under `RLIMIT_NOFILE`
//!   3 000.
//! - `app-mappings`: the application first holds 20 000 memory mappings of its own, then fills
//!   a runtime: the budget must count them (refusal, not the kernel's `ENOMEM`).
//! - `descriptors`: one tenant opens files until refused (`ENFILE` from the process budget), under
//!   `RLIMIT_NOFILE` 3 000; the host can still open files, and another tenant can once the first
//!   is gone.
//! - `deadlines`: 32 guests at once, each making a host call before it spins, under 100 ms
//!   deadlines; and one 300 ms host call before a spin under a 100 ms deadline.

use std::process::Command;
use std::time::{Duration, Instant};

use cage::{DynRuntime, DynSandbox, HostFunc, HostFunctions, Invocation, Policy, Value};
use cage::{FuncType, ValType};

const SCENARIOS: [&str; 7] = [
    "fill-twice",
    "module-per-tenant",
    "module-per-tenant-full",
    "module-per-tenant-nofile",
    "app-mappings",
    "descriptors",
    "deadlines",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let (scenario, runtime) = (&args[1], &args[2]);
        let name: cage::RuntimeName = runtime.parse().expect("a runtime name");
        let verdict = match scenario.as_str() {
            "fill-twice" => fill_twice(name),
            "module-per-tenant" => module_per_tenant(name, small_policy()),
            // Memories reserved whole: Wasmtime makes a copy-on-write image (a memfd) per
            // module with data; `-nofile` runs it under RLIMIT_NOFILE 3 000, where those
            // descriptors run out before the mappings do.
            "module-per-tenant-full" | "module-per-tenant-nofile" => {
                module_per_tenant(name, full_policy())
            }
            "app-mappings" => app_mappings(name),
            "descriptors" => descriptors(name),
            "deadlines" => deadlines(name),
            other => Err(format!("unknown scenario {other}")),
        };
        match verdict {
            Ok(summary) => println!("PASS {summary}"),
            Err(why) => {
                println!("FAIL {why}");
                std::process::exit(1);
            }
        }
        return;
    }
    let scenarios: Vec<&str> = match args.first().map(String::as_str) {
        Some(s) if SCENARIOS.contains(&s) => vec![s],
        _ => SCENARIOS.to_vec(),
    };
    let runtimes: Vec<String> = match args.get(1) {
        Some(r) => vec![r.clone()],
        None => cage::available_runtimes()
            .iter()
            .map(ToString::to_string)
            .collect(),
    };
    let me = std::env::current_exe().expect("the example's own path");
    let mut failed = 0;
    for scenario in &scenarios {
        for runtime in &runtimes {
            let started = Instant::now();
            // The descriptor scenarios run under RLIMIT_NOFILE 3 000, as the stress trial did.
            let mut cmd = if matches!(*scenario, "descriptors" | "module-per-tenant-nofile") {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg("ulimit -n 3000 && exec \"$0\" --child \"$1\" \"$2\"")
                    .arg(&me)
                    .arg(scenario)
                    .arg(runtime);
                c
            } else {
                let mut c = Command::new(&me);
                c.args(["--child", scenario, runtime]);
                c
            };
            let out = cmd.output().expect("cannot start a child");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let line = stdout
                .lines()
                .rev()
                .find(|l| l.starts_with("PASS") || l.starts_with("FAIL"))
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    let err = String::from_utf8_lossy(&out.stderr);
                    let tail: Vec<&str> = err.lines().rev().take(3).collect();
                    format!("FAIL exit {:?}: {}", out.status, tail.join(" | "))
                });
            if !line.starts_with("PASS") {
                failed += 1;
            }
            println!(
                "{scenario:<18} {runtime:<18} {:>6.1} s  {line}",
                started.elapsed().as_secs_f64()
            );
        }
    }
    std::process::exit(i32::from(failed > 0));
}

fn small_policy() -> Policy {
    Policy::from_toml(
        "[limits]\nmemory_reservation = \"max_memory\"\nmax_memory = \"1 MiB\"\n\
         max_instances = 1_000_000",
    )
    .expect("a valid policy")
}

const TENANT: &str = r#"(module (memory (export "memory") 1) (data (i32.const 0) "\2a")
    (func (export "get") (result i32) (i32.load8_u (i32.const 0))))"#;

fn compile(rt: &dyn DynRuntime, text: &str) -> Result<Box<dyn cage::DynModule>, cage::Error> {
    let bytes = wat::parse_str(text).expect("valid text");
    let host = HostFunctions::new();
    let checked = cage::prepare(rt, &bytes, &host, &Invocation::Instantiate)?;
    rt.compile_dyn(&checked, &host)
}

/// Why a refusal is acceptable: a typed budget refusal or a host resource failure.
fn typed(e: &cage::Error) -> Result<String, String> {
    if e.as_rejection() == Some(cage::Rejection::LimitExceeded)
        || e.as_host_failure() == Some(cage::HostFailure::Resources)
    {
        Ok(format!("{}", e.outcome()))
    } else {
        Err(format!("an untyped failure: {e}"))
    }
}

/// Every held sandbox still answers 42.
fn all_answer(held: &mut [Box<dyn DynSandbox>]) -> Result<(), String> {
    for (i, sb) in held.iter_mut().enumerate() {
        match sb.call("get", &[]) {
            Ok(v) if v == [Value::I32(42)] => {}
            other => return Err(format!("held sandbox {i} answered {other:?}")),
        }
    }
    Ok(())
}

/// Makes sandboxes of `m` until one is refused: how many, and the refusal.
fn fill(m: &dyn cage::DynModule) -> Result<(Vec<Box<dyn DynSandbox>>, String), String> {
    let mut held = Vec::new();
    loop {
        match m.sandbox().and_then(|mut sb| sb.instantiate().map(|()| sb)) {
            Ok(sb) => held.push(sb),
            Err(e) => return Ok((held, typed(&e)?)),
        }
        if held.len() > 2_000_000 {
            return Err("no refusal after 2 000 000 sandboxes".into());
        }
    }
}

fn fill_twice(name: cage::RuntimeName) -> Result<String, String> {
    let policy = small_policy();
    let mut counts = Vec::new();
    for _ in 0..2 {
        let rt = cage::runtime_named(name, &policy).map_err(|e| e.to_string())?;
        let m = compile(rt.as_ref(), TENANT).map_err(|e| e.to_string())?;
        let (mut held, why) = fill(m.as_ref())?;
        all_answer(&mut held)?;
        counts.push((held.len(), why));
    }
    let (a, b) = (counts[0].0 as f64, counts[1].0 as f64);
    if b < a * 0.98 {
        return Err(format!("the second runtime reached {b}, the first {a}"));
    }
    Ok(format!(
        "first runtime {} sandboxes ({}), second {} ({}); usage after: {:?}",
        counts[0].0,
        counts[0].1,
        counts[1].0,
        counts[1].1,
        cage::process_usage()
    ))
}

fn full_policy() -> Policy {
    Policy::from_toml(
        "[limits]\nmemory_reservation = \"full\"\nmax_memory = \"1 MiB\"\n\
         max_instances = 1_000_000",
    )
    .expect("a valid policy")
}

fn module_per_tenant(name: cage::RuntimeName, policy: Policy) -> Result<String, String> {
    let rt = cage::runtime_named(name, &policy).map_err(|e| e.to_string())?;
    rt.set_memory_cache_capacity(0);
    let mut tenants = Vec::new();
    let why = loop {
        let text = TENANT.replace(
            "(i32.load8_u (i32.const 0))",
            &format!(
                "(i32.add (i32.load8_u (i32.const 0)) (i32.mul (i32.const 0) (i32.const {})))",
                tenants.len()
            ),
        );
        let made = compile(rt.as_ref(), &text).and_then(|m| {
            m.sandbox()
                .and_then(|mut sb| sb.instantiate().map(|()| (m, sb)))
        });
        match made {
            Ok(t) => tenants.push(t),
            Err(e) => break typed(&e)?,
        }
        if tenants.len() > 500_000 {
            return Err("no refusal after 500 000 tenants".into());
        }
    };
    let mut held: Vec<Box<dyn DynSandbox>> = tenants.into_iter().map(|(_, sb)| sb).collect();
    all_answer(&mut held)?;
    Ok(format!("{} tenants, then {why}", held.len()))
}

/// Holds `n` one-page mappings that cannot merge (alternating protections).
fn hold_mappings(n: usize) -> Vec<Vec<u8>> {
    // Each allocation above glibc's mmap threshold is a mapping of its own; 256 KiB keeps them
    // above it, and the kernel merges adjacent anonymous mappings only when nothing separates
    // them: the guard page glibc does not add is added by leaving every other one unused.
    let mut held = Vec::with_capacity(n);
    let mut spacers = Vec::with_capacity(n);
    for i in 0..n * 2 {
        let v = vec![1u8; 256 << 10];
        if i % 2 == 0 {
            held.push(v);
        } else {
            spacers.push(v);
        }
    }
    drop(spacers);
    held
}

fn maps() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |t| t.lines().count())
}

fn app_mappings(name: cage::RuntimeName) -> Result<String, String> {
    let before = maps();
    let mine = hold_mappings(20_000);
    let taken = maps().saturating_sub(before);
    let policy = small_policy();
    let rt = cage::runtime_named(name, &policy).map_err(|e| e.to_string())?;
    let m = compile(rt.as_ref(), TENANT).map_err(|e| e.to_string())?;
    let (mut held, why) = fill(m.as_ref())?;
    all_answer(&mut held)?;
    let count = held.len();
    // The budget, not the kernel, refused: it counted the application's mappings as taken.
    let others = cage::process_usage().others.mappings;
    if !why.contains("limit_exceeded") || others < taken as u64 {
        return Err(format!(
            "refused by {why} with {others} mappings counted as others' (the application took \
             {taken}): the budget did not see them"
        ));
    }
    drop(mine);
    cage::budget::remeasure();
    // Room again once the application lets go: new sandboxes (and new threads) work.
    let more = std::thread::scope(|s| {
        s.spawn(|| -> Result<usize, String> {
            let mut fresh = Vec::new();
            for _ in 0..100 {
                let mut sb = m.sandbox().map_err(|e| e.to_string())?;
                sb.instantiate().map_err(|e| e.to_string())?;
                fresh.push(sb);
            }
            Ok(fresh.len())
        })
        .join()
        .map_err(|_| "a panic on a new thread".to_owned())?
    })?;
    drop(held);
    Ok(format!(
        "the application took {taken} mappings; {count} sandboxes, then {why}; after it let go, \
         {more} more on a new thread"
    ))
}

fn descriptors(name: cage::RuntimeName) -> Result<String, String> {
    rustix_setrlimit_nofile(3_000)?;
    cage::set_process_budget(cage::ProcessBudget::for_this_machine());
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("f"), b"x").map_err(|e| e.to_string())?;
    let mut policy = Policy::default();
    policy.limits.max_open_files = 1_000_000;
    policy.wasi.dirs.push(cage::policy::Dir::new(
        dir.path(),
        "/d",
        cage::policy::DirMode::Ro,
    ));
    let rt = cage::runtime_named(name, &policy).map_err(|e| e.to_string())?;
    let guest = r#"(module
      (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (memory (export "memory") 1) (data (i32.const 64) "f")
      (func (export "open_all") (result i64) (local $r i32) (local $n i32)
        (block $done (loop $l
          (local.set $r (call $open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 1)
            (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0)))
          (br_if $done (local.get $r))
          (local.set $n (i32.add (local.get $n) (i32.const 1)))
          (br $l)))
        (i64.or (i64.shl (i64.extend_i32_u (local.get $r)) (i64.const 32)) (i64.extend_i32_u (local.get $n)))))"#;
    let m = compile(rt.as_ref(), guest).map_err(|e| e.to_string())?;
    let run = |sb: &mut Box<dyn DynSandbox>| -> Result<(u64, u64), String> {
        match sb.call("open_all", &[]).map_err(|e| e.to_string())?[..] {
            [Value::I64(r)] => Ok(((r as u64) >> 32, r as u64 & 0xffff_ffff)),
            ref other => Err(format!("{other:?}")),
        }
    };
    let mut a = m.sandbox().map_err(|e| e.to_string())?;
    a.instantiate().map_err(|e| e.to_string())?;
    let (errno, opened) = run(&mut a)?;
    const ENFILE: u64 = 41;
    if errno != ENFILE {
        return Err(format!(
            "the first tenant got errno {errno} after {opened} files"
        ));
    }
    // The host keeps its reserve.
    let host_file = std::fs::File::open(dir.path().join("f"));
    if let Err(e) = host_file {
        return Err(format!("the host cannot open a file: {e}"));
    }
    drop(a);
    let mut b = m.sandbox().map_err(|e| e.to_string())?;
    b.instantiate().map_err(|e| e.to_string())?;
    let (errno_b, opened_b) = run(&mut b)?;
    if errno_b != ENFILE || opened_b + 10 < opened {
        return Err(format!(
            "the second tenant got errno {errno_b} after {opened_b} files"
        ));
    }
    Ok(format!(
        "one tenant opened {opened} files, then ENFILE; the host still opens files; the next \
         tenant opened {opened_b}"
    ))
}

fn rustix_setrlimit_nofile(n: u64) -> Result<(), String> {
    // The parent runs this scenario under `ulimit -n`; check that it took.
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    if soft != n {
        return Err(format!(
            "RLIMIT_NOFILE is {soft}, not {n}: run this scenario under `ulimit -n {n}`"
        ));
    }
    Ok(())
}

fn deadlines(name: cage::RuntimeName) -> Result<String, String> {
    let guest = r#"(module (import "env" "wait" (func $wait (param i32)))
        (func (export "spin") (param i32) (call $wait (local.get 0)) (loop br 0)))"#;
    let host = HostFunctions::new().with(HostFunc::new(
        "env",
        "wait",
        FuncType::new([ValType::I32], []),
        |_, a| {
            if let [Value::I32(ms)] = a {
                std::thread::sleep(Duration::from_millis(*ms as u64));
            }
            Ok(vec![])
        },
    ));
    let policy = Policy::default().with_timeout(Some(Duration::from_millis(100)));
    let rt = cage::runtime_named(name, &policy).map_err(|e| e.to_string())?;
    let bytes = wat::parse_str(guest).map_err(|e| e.to_string())?;
    let checked = cage::prepare(
        rt.as_ref(),
        &bytes,
        &host,
        &Invocation::call("spin", [Value::I32(0)]),
    )
    .map_err(|e| e.to_string())?;
    let m = rt.compile_dyn(&checked, &host).map_err(|e| e.to_string())?;
    let one = |wait: i32| -> Result<f64, String> {
        cage::on_guest_thread(&policy, || {
            let mut sb = m.sandbox().map_err(|e| e.to_string())?;
            sb.instantiate().map_err(|e| e.to_string())?;
            let t = Instant::now();
            let e = sb
                .call("spin", &[Value::I32(wait)])
                .expect_err("a spin cannot return");
            if e.as_trap() != Some(cage::Trap::Timeout) {
                return Err(format!("{e}"));
            }
            Ok(t.elapsed().as_secs_f64() * 1000.0)
        })
        .map_err(|e| e.to_string())?
    };
    let long = one(300)?;
    if long > 310.0 {
        return Err(format!(
            "a 300 ms host call then a spin ended at {long:.1} ms"
        ));
    }
    let mut many: Vec<f64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..32).map(|i| s.spawn(move || one(i % 50))).collect();
        hs.into_iter()
            .map(|h| h.join().map_err(|_| "a panic".to_owned())?)
            .collect::<Result<Vec<f64>, String>>()
    })?;
    many.sort_by(f64::total_cmp);
    let over: Vec<f64> = many.iter().map(|t| t - 100.0).collect();
    if over[0] < 0.0 {
        return Err(format!("a guest stopped early: {:.1} ms", many[0]));
    }
    let worst = over[over.len() - 1];
    let verdict = format!(
        "300 ms host call then spin: timeout at {long:.1} ms; 32 at once: overshoot p50 {:.1} \
         ms, max {worst:.1} ms",
        over[over.len() / 2]
    );
    if worst > 60.0 {
        return Err(verdict);
    }
    Ok(verdict)
}
