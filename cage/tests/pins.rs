//! The runtime versions each backend writes into its cache keys are the workspace's pins: one
//! test for every backend compiled in (a runtime upgrade that forgets the constant would let an
//! old cache entry pass as the new runtime's).

/// The workspace manifest, where the runtimes are pinned (`wasmtime = { version = "=X" …`).
const MANIFEST: &str = include_str!("../../Cargo.toml");

fn assert_pinned(krate: &str, version: &str, constant: &str) {
    let pin = format!("{krate} = {{ version = \"={version}\"");
    assert!(
        MANIFEST.contains(&pin),
        "the workspace does not pin `{pin}`: update {constant} with the workspace pin"
    );
}

#[test]
fn the_versions_in_the_cache_keys_are_the_pinned_ones() {
    let mut checked = 0;
    #[cfg(feature = "wasmtime")]
    {
        assert_pinned("wasmtime", cage::WASMTIME_VERSION, "WASMTIME_VERSION");
        checked += 1;
    }
    #[cfg(feature = "wasmer")]
    {
        assert_pinned("wasmer", cage::WASMER_VERSION, "WASMER_VERSION");
        checked += 1;
    }
    assert!(checked > 0 || cfg!(not(any(feature = "wasmtime", feature = "wasmer"))));
}
