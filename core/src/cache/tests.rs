use std::path::Path;

use super::disk::Lookup;
use super::*;

fn key(n: u8) -> CacheKey {
    CacheKey::new("wasmtime", b"fp", b"policy", &[n])
}

fn cache(dir: &Path) -> DiskCache {
    DiskCache::open(dir.join("cache"), HmacKey::from_bytes([7; 32])).unwrap()
}

fn found(l: Lookup) -> Vec<u8> {
    match l {
        Lookup::Found(c) => c.bytes().to_vec(),
        Lookup::Absent => panic!("absent"),
        Lookup::Rejected(why) => panic!("rejected: {why}"),
        Lookup::Failed(why) => panic!("failed: {why}"),
    }
}

fn rejected(l: Lookup) -> String {
    match l {
        Lookup::Rejected(why) => why,
        Lookup::Found(_) => panic!("a bad entry was accepted"),
        Lookup::Absent => panic!("absent"),
        Lookup::Failed(why) => panic!("failed: {why}"),
    }
}

#[test]
fn keys_cover_every_input() {
    let base = CacheKey::new("wasmtime", b"fp", b"policy", b"module");
    assert_eq!(base, CacheKey::new("wasmtime", b"fp", b"policy", b"module"));
    for other in [
        CacheKey::new("wasmer-cranelift", b"fp", b"policy", b"module"),
        CacheKey::new("wasmtime", b"fp2", b"policy", b"module"),
        CacheKey::new("wasmtime", b"fp", b"policy2", b"module"),
        CacheKey::new("wasmtime", b"fp", b"policy", b"module2"),
        // Field boundaries are part of the hash.
        CacheKey::new("wasmtime", b"fpp", b"olicy", b"module"),
    ] {
        assert_ne!(base, other);
    }
    assert_eq!(base.to_hex().len(), 64);
}

#[test]
fn policy_fingerprint_tracks_code_and_check_settings_only() {
    let p = Policy::default();
    let fp = policy_fingerprint(&p);
    assert_ne!(fp, policy_fingerprint(&p.clone().with_fuel(Some(10))));
    assert_ne!(
        policy_fingerprint(&p.clone().with_fuel(Some(10))),
        policy_fingerprint(&p.clone().with_fuel(Some(11)))
    );
    // Whether there is a deadline changes code (the default preset has one).
    assert_ne!(fp, policy_fingerprint(&p.clone().with_timeout(None)));
    assert_ne!(fp, policy_fingerprint(&p.clone().with_max_memory(1 << 20)));
    let mut m = p.clone();
    m.limits.max_locals += 1;
    assert_ne!(fp, policy_fingerprint(&m), "a static limit");
    let mut q = p.clone();
    q.features = q.features.with(crate::Proposal::Simd, false);
    assert_ne!(fp, policy_fingerprint(&q));
    // The timeout's length and the instance cap do not change code.
    let a = p
        .clone()
        .with_timeout(Some(std::time::Duration::from_secs(1)));
    let b = p
        .clone()
        .with_timeout(Some(std::time::Duration::from_secs(2)));
    assert_eq!(policy_fingerprint(&a), policy_fingerprint(&b));
    let mut c = p.clone();
    c.limits.max_instances = 7;
    assert_eq!(fp, policy_fingerprint(&c));
}

#[test]
fn entries_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cache(tmp.path());
    assert!(matches!(c.get(&key(1)), Lookup::Absent));
    c.put(&key(1), b"compiled code").unwrap();
    assert_eq!(found(c.get(&key(1))), b"compiled code");
    c.put(&key(1), b"recompiled").unwrap();
    assert_eq!(found(c.get(&key(1))), b"recompiled");
    c.put(&key(2), b"").unwrap();
    assert_eq!(found(c.get(&key(2))), b"");
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(c.dir()).unwrap().collect();
    assert_eq!(names.len(), 2);
}

#[test]
fn tampered_truncated_and_foreign_entries_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cache(tmp.path());
    let path = c.dir().join(key(1).to_hex());
    c.put(&key(1), b"compiled code").unwrap();
    let good = std::fs::read(&path).unwrap();

    // One bit flipped in the payload.
    let mut bad = good.clone();
    bad[60] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    assert!(rejected(c.get(&key(1))).contains("authentication"));

    // Truncated, at every length.
    for len in [0, 7, 20, 52, 60, good.len() - 1] {
        std::fs::write(&path, &good[..len]).unwrap();
        let why = rejected(c.get(&key(1)));
        assert!(!why.is_empty(), "{len}");
    }

    // Another entry's file under this key's name (another module, runtime or policy).
    c.put(&key(2), b"other code").unwrap();
    std::fs::copy(c.dir().join(key(2).to_hex()), &path).unwrap();
    assert!(rejected(c.get(&key(1))).contains("another module"));

    // Written with another HMAC key.
    let other = DiskCache::open(c.dir(), HmacKey::from_bytes([8; 32])).unwrap();
    other.put(&key(1), b"forged").unwrap();
    assert!(rejected(c.get(&key(1))).contains("authentication"));

    // Another format version, properly authenticated: still refused.
    std::fs::write(&path, &good).unwrap();
    let mut foreign = good.clone();
    foreign[8] = foreign[8].wrapping_add(1);
    let body = foreign.len() - 32;
    let mut m = HmacKey::from_bytes([7; 32]).mac_for_tests();
    hmac::Mac::update(&mut m, &foreign[..body]);
    let tag = hmac::Mac::finalize(m).into_bytes();
    foreign[body..].copy_from_slice(&tag);
    std::fs::write(&path, &foreign).unwrap();
    assert!(rejected(c.get(&key(1))).contains("format"));

    // Not a Cage entry at all.
    std::fs::write(&path, vec![0u8; 200]).unwrap();
    assert!(rejected(c.get(&key(1))).contains("not a Cage"));

    // The good entry still reads.
    std::fs::write(&path, &good).unwrap();
    assert_eq!(found(c.get(&key(1))), b"compiled code");
}

#[cfg(unix)]
#[test]
fn directories_and_keys_others_can_reach_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let c = DiskCache::open(&dir, HmacKey::from_bytes([1; 32])).unwrap();
    let mode = std::fs::metadata(c.dir()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "created owner-only");

    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = DiskCache::open(&dir, HmacKey::from_bytes([1; 32])).unwrap_err();
    assert!(e.to_string().contains("other users"), "{e}");

    let link = tmp.path().join("link");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&dir, &link).unwrap();
    assert!(DiskCache::open(&link, HmacKey::from_bytes([1; 32])).is_err());

    // The key file: created 600, read back the same, refused once others can read it.
    let key_file = tmp.path().join("keys").join("cache.key");
    let k1 = HmacKey::load_or_create(&key_file).unwrap();
    let k2 = HmacKey::load_or_create(&key_file).unwrap();
    assert_eq!(k1.bytes_for_tests(), k2.bytes_for_tests());
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(HmacKey::load_or_create(&key_file).is_err());

    // A key inside the cache directory is refused.
    let inside = dir.join("cache.key");
    let e = DiskCache::open_with_key_file(&dir, &inside).unwrap_err();
    assert!(e.to_string().contains("must not be inside"), "{e}");
}

#[test]
fn the_memory_cache_keeps_the_most_recently_used() {
    let m = MemoryCache::new(2);
    m.insert(key(1), 1);
    m.insert(key(2), 2);
    assert_eq!(m.get(&key(1)), Some(1));
    m.insert(key(3), 3);
    assert_eq!(m.get(&key(2)), None, "least recently used goes first");
    assert_eq!(m.get(&key(1)), Some(1));
    assert_eq!(m.get(&key(3)), Some(3));
    m.set_capacity(0);
    assert_eq!(m.get(&key(1)), None);
    m.insert(key(4), 4);
    assert_eq!(m.get(&key(4)), None, "capacity 0 keeps nothing");
}

#[test]
fn a_bounded_cache_evicts_the_least_recently_used_entries() {
    let tmp = tempfile::tempdir().unwrap();
    // Each entry is a 32-byte payload plus 84 bytes of header and MAC: 116 bytes.
    let entry = 116;
    let c = cache(tmp.path()).with_max_bytes(Some(3 * entry));
    let set_age = |n: u8, secs_ago: u64| {
        let path = c.dir().join(key(n).to_hex());
        let t = std::time::SystemTime::now() - std::time::Duration::from_secs(secs_ago);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(t)
            .unwrap();
    };
    for n in 1..=3 {
        c.put(&key(n), &[n; 32]).unwrap();
        set_age(n, 100 - u64::from(n));
    }
    assert_eq!(c.usage().unwrap().entries, 3);
    assert_eq!(c.usage().unwrap().bytes, 3 * entry);
    // Using entry 1 makes it the most recent: entry 2 is now the least recently used.
    assert_eq!(found(c.get(&key(1))), [1; 32]);
    c.put(&key(4), &[4; 32]).unwrap();
    assert!(matches!(c.get(&key(2)), Lookup::Absent), "2 was evicted");
    for n in [1, 3, 4] {
        assert_eq!(found(c.get(&key(n))), [n; 32], "{n} stays");
    }
    assert!(c.usage().unwrap().bytes <= 3 * entry);
    // An entry larger than the bound is kept alone: the one just written is never evicted.
    c.put(&key(5), &[5; 1000]).unwrap();
    assert_eq!(found(c.get(&key(5))), [5; 1000]);
    assert_eq!(c.usage().unwrap().entries, 1);
    // Clearing removes entries and only entries.
    std::fs::write(c.dir().join("README"), "not an entry").unwrap();
    c.put(&key(6), b"x").unwrap();
    let before = c.usage().unwrap();
    assert_eq!(before.entries, 1, "6 evicted 5");
    assert_eq!(c.clear().unwrap(), before);
    assert_eq!(c.usage().unwrap(), DiskUsage::default());
    assert!(c.dir().join("README").exists());
    // Unbounded (the default): nothing is evicted.
    let u = cache(tmp.path());
    for n in 1..=10 {
        u.put(&key(n), &[n; 32]).unwrap();
    }
    assert_eq!(u.usage().unwrap().entries, 10);
}
