//! The compiled-module cache on every compiled-in runtime: hits in memory and on disk, and
//! every kind of bad entry (tampered, truncated, foreign to the runtime's version, written for
//! another policy, another runtime or another module, forged with another key) ignored, counted
//! and recompiled, with the guest behaving exactly as when compiled cold.

use std::path::{Path, PathBuf};

use cage::{
    CacheStats, DiskCache, DynRuntime, HmacKey, HostFunctions, Invocation, Policy, RuntimeName,
    Value,
};
use hmac::{KeyInit, Mac};

const KEY: [u8; 32] = [42; 32];

/// A guest whose result and fuel show it ran the right code.
const GUEST: &str = r#"(module
    (memory (export "memory") 1)
    (data (i32.const 0) "\05")
    (func (export "run") (param i32) (result i32) (local i32)
        (block $done (loop $l
            (br_if $done (i32.eqz (local.get 0)))
            (local.set 1 (i32.add (local.get 1) (i32.load8_u (i32.const 0))))
            (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
            (br $l)))
        (local.get 1)))"#;

const OTHER: &str = r#"(module (func (export "run") (param i32) (result i32) (i32.const 7)))"#;

fn policy() -> Policy {
    Policy::default().with_fuel(Some(1_000_000))
}

fn runtime(name: RuntimeName, policy: &Policy, dir: Option<&Path>) -> Box<dyn DynRuntime> {
    let rt = cage::runtime_named(name, policy).unwrap();
    if let Some(dir) = dir {
        rt.set_disk_cache(Some(
            DiskCache::open(dir, HmacKey::from_bytes(KEY)).unwrap(),
        ));
    }
    rt
}

/// Compiles `guest` on `rt` and runs `run(10)`: (result, fuel consumed).
fn run(rt: &dyn DynRuntime, guest: &str) -> (Vec<Value>, Option<u64>) {
    let bytes = wat::parse_str(guest).unwrap();
    let host = HostFunctions::new();
    let checked = cage::prepare(rt, &bytes, &host, &Invocation::Instantiate).unwrap();
    let module = rt.compile_dyn(&checked, &host).unwrap();
    let mut sb = module.sandbox().unwrap();
    sb.instantiate().unwrap();
    let out = sb.call("run", &[Value::I32(10)]).unwrap();
    (out, sb.stats().fuel_consumed)
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// The one entry in `dir`.
fn entry(dir: &Path) -> PathBuf {
    let e = entries(dir);
    assert_eq!(e.len(), 1, "{e:?}");
    e[0].clone()
}

/// Recomputes an entry's HMAC with the test key after editing it: an entry only the runtime
/// itself can refuse.
fn reauthenticate(bytes: &mut [u8]) {
    let body = bytes.len() - 32;
    let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&KEY).unwrap();
    m.update(&bytes[..body]);
    let tag = m.finalize().into_bytes();
    bytes[body..].copy_from_slice(&tag);
}

fn stats(
    memory_hits: u64,
    disk_hits: u64,
    misses: u64,
    stored: u64,
    rejected: u64,
) -> (u64, u64, u64, u64, u64) {
    (memory_hits, disk_hits, misses, stored, rejected)
}

fn got(s: CacheStats) -> (u64, u64, u64, u64, u64) {
    assert_eq!(s.errors, 0, "{s:?}");
    (s.memory_hits, s.disk_hits, s.misses, s.stored, s.rejected)
}

#[test]
fn the_same_module_compiles_once_per_runtime_in_memory() {
    for name in cage::available_runtimes() {
        let rt = runtime(name, &policy(), None);
        let cold = run(rt.as_ref(), GUEST);
        assert_eq!(cold.0, [Value::I32(50)], "{name}");
        assert_eq!(run(rt.as_ref(), GUEST), cold, "{name}");
        assert_eq!(got(rt.cache_stats()), stats(1, 0, 1, 0, 0), "{name}");
        rt.set_memory_cache_capacity(0);
        assert_eq!(run(rt.as_ref(), GUEST), cold, "{name}");
        assert_eq!(got(rt.cache_stats()), stats(1, 0, 2, 0, 0), "{name}");
    }
}

#[test]
fn a_disk_entry_serves_a_new_runtime_and_bad_entries_are_recompiled() {
    for name in cage::available_runtimes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        let first = runtime(name, &policy(), Some(&dir));
        let cold = run(first.as_ref(), GUEST);
        assert_eq!(got(first.cache_stats()), stats(0, 0, 1, 1, 0), "{name}");
        let path = entry(&dir);
        let good = std::fs::read(&path).unwrap();

        // A new runtime (as in another process) loads it, and its check (which reads the
        // module's structure without validating bodies again) sees the same module.
        let rt = runtime(name, &policy(), Some(&dir));
        let bytes = wat::parse_str(GUEST).unwrap();
        assert_eq!(
            rt.check(&bytes).unwrap().info(),
            cage::check(&bytes, &policy()).unwrap().info(),
            "{name}"
        );
        assert_eq!(got(rt.cache_stats()), stats(0, 1, 0, 0, 0), "{name}");
        let rt = runtime(name, &policy(), Some(&dir));
        assert_eq!(run(rt.as_ref(), GUEST), cold, "{name}");
        assert_eq!(got(rt.cache_stats()), stats(0, 1, 0, 0, 0), "{name}");

        let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
        // Tampered: one bit of the code flipped.
        let mut tampered = good.clone();
        let mid = good.len() / 2;
        tampered[mid] ^= 0x10;
        cases.push(("tampered", tampered));
        // Truncated.
        cases.push(("truncated", good[..good.len() / 3].to_vec()));
        cases.push(("empty", Vec::new()));
        // Foreign to this runtime's version: the runtime's own header edited and the entry
        // authenticated again, so only the runtime's check can refuse it.
        let mut foreign = good.clone();
        let payload = 8 + 4 + 32 + 8;
        // Wasmtime's engine section starts with its format byte 0, the length of its version
        // string and the major version; Wasmer's artifact starts with its magic.
        let version: &[u8] = match name {
            RuntimeName::Wasmtime => b"\x00\x0248",
            _ => b"wasmer",
        };
        let at = foreign[payload..]
            .windows(version.len())
            .position(|w| w == version)
            .unwrap_or_else(|| panic!("{name}: no version marker in the entry"));
        foreign[payload + at + version.len() - 1] ^= 0x01;
        reauthenticate(&mut foreign);
        cases.push(("foreign version", foreign));
        // Forged with another key.
        let mut forged = good.clone();
        forged[mid] ^= 0x10;
        let body = forged.len() - 32;
        let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&[1; 32]).unwrap();
        m.update(&forged[..body]);
        let tag = m.finalize().into_bytes();
        forged[body..].copy_from_slice(&tag);
        cases.push(("another key", forged));

        for (what, bytes) in cases {
            std::fs::write(&path, &bytes).unwrap();
            let rt = runtime(name, &policy(), Some(&dir));
            assert_eq!(run(rt.as_ref(), GUEST), cold, "{name}, {what}");
            assert_eq!(
                got(rt.cache_stats()),
                stats(0, 0, 1, 1, 1),
                "{name}, {what}: ignored, counted, recompiled, rewritten"
            );
            // The rewritten entry is good again.
            let rt = runtime(name, &policy(), Some(&dir));
            assert_eq!(run(rt.as_ref(), GUEST), cold, "{name}, {what}");
            assert_eq!(
                got(rt.cache_stats()),
                stats(0, 1, 0, 0, 0),
                "{name}, {what}"
            );
        }
    }
}

#[test]
fn entries_of_another_policy_runtime_or_module_are_refused_under_this_name() {
    let names = cage::available_runtimes();
    for &name in &names {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        let rt = runtime(name, &policy(), Some(&dir));
        let cold = run(rt.as_ref(), GUEST);
        let mine = entry(&dir);

        let mut strangers: Vec<(String, PathBuf)> = Vec::new();
        // Another policy (another fuel budget), same runtime and module.
        let other_dir = tmp.path().join("other-policy");
        let rt2 = runtime(
            name,
            &Policy::default().with_fuel(Some(7)),
            Some(&other_dir),
        );
        let bytes = wat::parse_str(GUEST).unwrap();
        let checked = cage::prepare(
            rt2.as_ref(),
            &bytes,
            &HostFunctions::new(),
            &Invocation::Instantiate,
        )
        .unwrap();
        rt2.compile_dyn(&checked, &HostFunctions::new()).unwrap();
        strangers.push(("another policy".into(), entry(&other_dir)));
        // Another module, same runtime and policy.
        let other_dir = tmp.path().join("other-module");
        run(runtime(name, &policy(), Some(&other_dir)).as_ref(), OTHER);
        strangers.push(("another module".into(), entry(&other_dir)));
        // Another runtime.
        for &other in names.iter().filter(|n| **n != name) {
            let other_dir = tmp.path().join(format!("other-{other}"));
            run(runtime(other, &policy(), Some(&other_dir)).as_ref(), GUEST);
            strangers.push((format!("runtime {other}"), entry(&other_dir)));
        }

        for (what, stranger) in strangers {
            std::fs::copy(&stranger, &mine).unwrap();
            let rt = runtime(name, &policy(), Some(&dir));
            assert_eq!(run(rt.as_ref(), GUEST), cold, "{name}, {what}");
            assert_eq!(
                got(rt.cache_stats()),
                stats(0, 0, 1, 1, 1),
                "{name}, {what}"
            );
        }
    }
}

#[test]
fn a_policy_that_changes_no_code_shares_entries() {
    for name in cage::available_runtimes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        let mut a = policy();
        a.limits.max_instances = 10;
        run(runtime(name, &a, Some(&dir)).as_ref(), GUEST);
        let mut b = policy();
        b.limits.max_instances = 20;
        let rt = runtime(name, &b, Some(&dir));
        run(rt.as_ref(), GUEST);
        assert_eq!(got(rt.cache_stats()), stats(0, 1, 0, 0, 0), "{name}");
        assert_eq!(entries(&dir).len(), 1);
    }
}
