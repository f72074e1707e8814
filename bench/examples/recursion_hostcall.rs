//! A guest that recurses through host calls until its stack runs out, many times, on several
//! threads, optionally under a deadline (`recursion_hostcall RUNTIME [MS|none] [THREADS]`). It
//! hung Wasmer (a trap raised near the end of the stack wedged the `backtrace` lock) until Cage
//! raised its traps from the signal handler (see `backend-wasmer/src/middleware.rs`).
use cage::{FuncType, HostFunc, HostFunctions, Invocation, Policy, ValType};

fn main() {
    let wat = r#"(module (import "env" "churn" (func $c (param i32) (result i32)))
        (func $f (export "run") (drop (call $c (i32.const 1))) (call $f)))"#;
    let bytes = cage_core::module::to_binary(wat.as_bytes()).unwrap();
    let host = HostFunctions::new().with(HostFunc::new(
        "env",
        "churn",
        FuncType::new([ValType::I32], [ValType::I32]),
        |_, a| Ok(vec![a[0]]),
    ));
    let rt_name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "wasmer-cranelift".into());
    let timeout = std::env::args()
        .nth(2)
        .filter(|t| t != "none")
        .map(|t| std::time::Duration::from_millis(t.parse().unwrap()));
    let policy = Policy::default().with_timeout(timeout);
    let threads: usize = std::env::args().nth(3).map_or(1, |t| t.parse().unwrap());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| work(&rt_name, &policy, &bytes, &host));
        }
    });
    println!("done");
}

fn work(rt_name: &str, policy: &Policy, bytes: &[u8], host: &HostFunctions) {
    let rt = cage::runtime(rt_name, policy).unwrap();
    for i in 0..200 {
        let r = cage::on_guest_thread(policy, || {
            cage::run(rt.as_ref(), bytes, host, &Invocation::call("run", []))
        })
        .unwrap();
        if i % 20 == 0 {
            println!("{i}: {:?} {:?}", r.outcome(), r.message);
        }
    }
}
