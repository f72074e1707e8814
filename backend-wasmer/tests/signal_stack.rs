//! A thread that could not get a signal stack runs guests again once memory is back.
//!
//! Wasmer maps a thread's alternate signal stack the first time the thread enters guest code
//! and, when that `mmap` fails, refuses every later call on the thread for the rest of its life
//! ("VM out of memory"). Cage installs the stack itself before Wasmer looks
//! (`Backend::prepare_thread`), so the call is refused `host_failure: resources` and the same
//! thread succeeds once the address space is back. The address-space limit is process-wide:
//! this test is alone in its binary.

use cage_core::{HostFailure, HostFunctions, Invocation, Outcome, Policy, Value};
use cage_wasmer::Compiler;

/// With a start function, so that instantiating enters guest code.
const GUEST: &str = r#"(module (global $g (mut i32) (i32.const 0))
    (func $init (global.set $g (i32.const 7))) (start $init)
    (func (export "f") (result i32) (global.get $g)))"#;

/// The process's address space now, in bytes (`VmSize`).
fn address_space() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Sets the soft limit on the address space (`None`: as high as the hard limit allows).
fn set_address_space_limit(bytes: Option<u64>) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::As);
    limit.current = match (bytes, limit.maximum) {
        (Some(b), Some(max)) => Some(b.min(max)),
        (b, max) => b.or(max),
    };
    setrlimit(Resource::As, limit).expect("setrlimit");
}

#[test]
fn a_thread_refused_a_signal_stack_runs_guests_once_memory_is_back() {
    let bytes = cage_core::module::to_binary(GUEST.as_bytes()).unwrap();
    let mut compilers = vec![Compiler::Cranelift];
    if cfg!(feature = "singlepass") {
        compilers.push(Compiler::Singlepass);
    }
    for compiler in compilers {
        let policy = Policy::default();
        let rt = cage_wasmer::runtime(&policy, compiler).unwrap();
        let host = HostFunctions::new();
        let checked = cage_core::prepare(&rt, &bytes, &host, &Invocation::Instantiate).unwrap();
        let module = rt.compile_checked(&checked, &host).unwrap();
        // A new thread: no signal stack of Cage's or Wasmer's yet. (Sandboxes stay on the
        // thread that made them.)
        let (refused, later) = std::thread::scope(|s| {
            s.spawn(|| {
                // This thread's allocator arena and the sandbox exist before the limit.
                let warm: Vec<Vec<u8>> = (0..64).map(|i| vec![0u8; 1024 * i]).collect();
                drop(warm);
                let mut first = module.sandbox().unwrap();
                set_address_space_limit(Some(address_space() + 64 * 1024));
                let refused = first.instantiate();
                set_address_space_limit(None);
                drop(first);
                let later = (0..3)
                    .map(|_| {
                        let mut sb = module.sandbox()?;
                        sb.instantiate()?;
                        sb.call("f", &[])
                    })
                    .collect::<Vec<_>>();
                (refused, later)
            })
            .join()
            .unwrap()
        });
        for result in later {
            assert_eq!(
                result.unwrap(),
                vec![Value::I32(7)],
                "{compiler:?}: the thread runs guests again"
            );
        }
        let e = refused.expect_err("no room for a signal stack");
        assert_eq!(
            e.outcome(),
            Outcome::HostFailure(HostFailure::Resources),
            "{compiler:?}: {e}"
        );
        assert!(e.to_string().contains("signal stack"), "{compiler:?}: {e}");
    }
}
