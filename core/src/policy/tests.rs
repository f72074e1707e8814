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
