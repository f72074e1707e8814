use super::*;

#[test]
fn contract_keys_parse() {
    let p = Policy::from_toml(
        r#"
        [limits]
        fuel = 1_000_000
        timeout = "2s"
        max_memory = "64 MiB"
        max_table_elements = 10000
        max_memories = 1
        max_tables = 1
        max_instances = 1000
        max_stack = "512 KiB"
        max_module_size = "16 MiB"
        max_output = "1 MiB"
        trap_on_grow_failure = false
        [features]
        simd = true
        threads = false
        "#,
    )
    .unwrap();
    assert_eq!(p.limits.fuel, Some(1_000_000));
    assert_eq!(p.limits.timeout, Some(Duration::from_secs(2)));
    assert_eq!(p.limits.max_memory, Size::mib(64));
    assert_eq!(p.limits.max_stack, Size::kib(512));
    assert!(p.features.contains(Proposal::Simd));
    assert!(!p.features.contains(Proposal::Threads));
}

#[test]
fn memory_reservation_parses_and_defaults_to_full() {
    assert_eq!(
        Policy::default().limits.memory_reservation,
        MemoryReservation::Full
    );
    let p = Policy::from_toml("[limits]\nmemory_reservation = \"max_memory\"\n").unwrap();
    assert_eq!(p.limits.memory_reservation, MemoryReservation::MaxMemory);
    assert!(Policy::from_toml("[limits]\nmemory_reservation = \"huge\"\n").is_err());
    // It round-trips through the complete file `to_toml` writes.
    assert_eq!(Policy::from_toml(&p.to_toml()).unwrap(), p);
}

#[test]
fn sizes_accept_integers_and_absent_keys_keep_preset() {
    let p = Policy::from_toml("[limits]\nmax_memory = 65536\n").unwrap();
    assert_eq!(p.limits.max_memory, Size(65536));
    let d = Policy::default();
    assert_eq!(p.limits.max_stack, d.limits.max_stack);
    assert_eq!(
        p.limits.fuel, None,
        "absent fuel = no metering in the default preset"
    );
    assert_eq!(p.features, d.features);
}

#[test]
fn unknown_keys_are_named() {
    let e = Policy::from_toml("[limits]\nmax_memroy = 1\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("max_memroy"), "{e}");
    let e = Policy::from_toml("[limitz]\n").unwrap_err().to_string();
    assert!(e.contains("limitz"), "{e}");
    let e = Policy::from_toml("[features]\nwarp = true\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("warp"), "{e}");
    let e = Policy::from_toml("[wasi]\nnetwork = true\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("network"), "{e}");
}

#[test]
fn bad_values_are_errors_not_panics() {
    for text in [
        "[limits]\nfuel = -1\n",
        "[limits]\nfuel = \"lots\"\n",
        "[limits]\ntimeout = \"soon\"\n",
        "[limits]\ntimeout = 5\n",
        "[limits]\ntimeout = \"0s\"\n",
        "[limits]\nmax_memory = \"-3 MiB\"\n",
        "[limits]\nmax_memory = true\n",
        "[limits]\nmax_stack = \"1 KiB\"\n",
        "[limits]\nmax_stack = \"1 GiB\"\n",
        "[limits]\nmax_memories = 99999999999\n",
        "[features]\nsimd = \"yes\"\n",
        "[features]\nsimd = false\nrelaxed_simd = true\n",
        "preset = \"lax\"\n",
        "[wasi]\nrandom = \"dice\"\n",
        "[wasi]\nclock = \"sundial\"\n",
        "[[wasi.dirs]]\nhost = \"x\"\nguest = \"rel\"\n",
        "[[wasi.dirs]]\nhost = \"x\"\nguest = \"/a\"\nmode = \"rwx\"\n",
        "not toml at all [",
    ] {
        assert!(Policy::from_toml(text).is_err(), "accepted: {text}");
    }
}

#[test]
fn none_switches_fuel_and_timeout_off_over_a_preset() {
    let p =
        Policy::from_toml("preset = \"strict\"\n[limits]\nfuel = \"none\"\ntimeout = \"none\"\n")
            .unwrap();
    assert_eq!(p.limits.fuel, None);
    assert_eq!(p.limits.timeout, None);
    assert_eq!(p.limits.max_memory, Size::mib(16), "rest of strict kept");
}

#[test]
fn presets_validate_and_round_trip_through_toml() {
    for preset in Preset::ALL {
        let p = preset.policy();
        p.validate().unwrap();
        let text = p.to_toml();
        let back = Policy::from_toml(&text).unwrap_or_else(|e| panic!("{preset:?}: {e}\n{text}"));
        assert_eq!(back, p, "{preset:?} round trip");
        assert!(
            !p.features.contains(Proposal::Threads),
            "threads off in every preset"
        );
    }
}

#[test]
fn wasi_section_and_relative_dirs() {
    let o = PolicyOverlay::from_toml(
        r#"
        [wasi]
        args = ["prog", "--flag"]
        env = { LANG = "C" }
        clock = "frozen"
        random = { seed = 42 }
        [[wasi.dirs]]
        host = "data"
        guest = "/data"
        mode = "rw"
        "#,
    )
    .unwrap();
    let p = o
        .apply(Policy::default(), Some(Path::new("/etc/cage")))
        .unwrap();
    assert_eq!(p.wasi.args, ["prog", "--flag"]);
    assert_eq!(p.wasi.env["LANG"], "C");
    assert_eq!(p.wasi.clock, Clock::Frozen);
    assert_eq!(p.wasi.random, Random::Seeded { seed: 42 });
    assert_eq!(p.wasi.dirs[0].host, Path::new("/etc/cage/data"));
    assert_eq!(p.wasi.dirs[0].mode, DirMode::Rw);
}

#[test]
fn overlapping_grants_are_refused_naming_both() {
    let root = tempfile::tempdir().unwrap();
    let outer = root.path().join("work");
    let inner = outer.join("input");
    std::fs::create_dir_all(&inner).unwrap();
    let link = root.path().join("alias");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outer, &link).unwrap();
    let grants = |dirs: &[(&Path, &str, DirMode)]| {
        let mut p = Policy::default();
        for (host, guest, mode) in dirs {
            p.wasi.dirs.push(Dir::new(*host, *guest, *mode));
        }
        p.check_host_dirs()
    };
    // A read-only grant inside a read-write one could be changed through the read-write one.
    let e = grants(&[(&outer, "/work", DirMode::Rw), (&inner, "/in", DirMode::Ro)])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/work") && e.contains("/in") && e.contains("inside"),
        "{e}"
    );
    // In either order, and through a symbolic link or `..`.
    assert!(grants(&[(&inner, "/in", DirMode::Ro), (&outer, "/work", DirMode::Rw)]).is_err());
    #[cfg(unix)]
    assert!(
        grants(&[
            (&link, "/work", DirMode::Rw),
            (&inner.join("..").join("input"), "/in", DirMode::Ro)
        ])
        .is_err()
    );
    // The same directory twice, whatever the modes.
    let e = grants(&[(&outer, "/a", DirMode::Ro), (&outer, "/b", DirMode::Ro)])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/a") && e.contains("/b") && e.contains("same"),
        "{e}"
    );
    #[cfg(unix)]
    assert!(grants(&[(&outer, "/a", DirMode::Rw), (&link, "/b", DirMode::Rw)]).is_err());
    // Anything inside a read-write grant could be replaced through it, also read-write.
    assert!(grants(&[(&outer, "/work", DirMode::Rw), (&inner, "/in", DirMode::Rw)]).is_err());
    // Inside a read-only grant, each grant gives exactly what it says.
    grants(&[(&outer, "/work", DirMode::Ro), (&inner, "/in", DirMode::Rw)]).unwrap();
    grants(&[(&outer, "/work", DirMode::Ro), (&inner, "/in", DirMode::Ro)]).unwrap();
}

#[test]
fn wasi_resource_limits_are_validated_and_finite_in_the_presets() {
    for preset in [Preset::Strict, Preset::Default] {
        let l = preset.policy().limits;
        assert!(l.max_open_files <= 4_096, "{preset:?}");
        assert!(l.max_disk_write <= Size::gib(1), "{preset:?}");
        assert!(l.max_files_created <= 100_000, "{preset:?}");
        assert!(l.max_io_per_call <= Size::mib(128), "{preset:?}");
    }
    let mut p = Policy::default();
    p.limits.max_open_files = 4;
    p.wasi.dirs.push(Dir::new("/a", "/a", DirMode::Ro));
    p.wasi.dirs.push(Dir::new("/b", "/b", DirMode::Ro));
    let e = p.validate().unwrap_err().to_string();
    assert!(
        e.contains("max_open_files") && e.contains("wasi.dirs"),
        "{e}"
    );
    let e = Policy::from_toml("[limits]\nmax_io_per_call = 1000")
        .unwrap_err()
        .to_string();
    assert!(e.contains("max_io_per_call"), "{e}");
    let p = Policy::from_toml(
        "[limits]\nmax_open_files = 32\nmax_disk_write = \"5 MiB\"\nmax_files_created = 7\n\
         max_io_per_call = \"1 MiB\"",
    )
    .unwrap();
    assert_eq!(
        (
            p.limits.max_open_files,
            p.limits.max_disk_write,
            p.limits.max_files_created,
            p.limits.max_io_per_call
        ),
        (32, Size::mib(5), 7, Size::mib(1))
    );
}

#[test]
fn guest_paths_are_absolute_or_the_working_directory() {
    for ok in ["/data", "/", "."] {
        let mut p = Policy::default();
        p.wasi.dirs.push(Dir::new("x", ok, DirMode::Ro));
        assert!(p.validate().is_ok(), "{ok}");
    }
    for bad in ["data", "./data", "..", ""] {
        let mut p = Policy::default();
        p.wasi.dirs.push(Dir::new("x", bad, DirMode::Ro));
        let e = p.validate().unwrap_err().to_string();
        assert!(
            e.contains("must be absolute") && e.contains("\".\""),
            "{bad}: {e}"
        );
    }
}
