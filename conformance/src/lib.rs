//! Cage's conformance suite: hostile modules as data, run on every runtime, each demanding the
//! expected outcome and one identical outcome across runtimes.
//!
//! A case is a `.wat` file whose leading `;;!` lines form a TOML document: the policy sections
//! (`[limits]`, `[features]`, `[wasi]`, `[[wasi.dirs]]`) plus a `[case]` section (see
//! [`CaseSpec`]). A `.wasm` case takes the same TOML from a sidecar `NAME.toml`. The built-in
//! corpus is in `conformance/cases/`; `conformance/README.md` says how to run, filter and add
//! cases.

pub mod backend_tests;
mod case;
pub mod fuzz;
mod host;
pub mod oracle;
mod runner;
pub mod spec;
pub mod spectest;
pub mod wasi_testsuite;

pub use case::{
    Case, CaseSpec, Expect, ExpectValue, LoadError, Make, MakeKind, header_of, load_cases,
    load_each,
};
pub use host::host_functions;
pub use runner::{
    CaseResult, Exec, Factory, Verdict, copy_dir, run_case, run_case_with, uses_unsupported,
};

/// The built-in corpus directory in this source tree.
pub fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")
}

/// The built-in corpus, embedded at build time, so that a `cage` binary runs it from anywhere.
static CORPUS: include_dir::Dir<'static> = include_dir::include_dir!("$CARGO_MANIFEST_DIR/cases");

/// The embedded built-in corpus written to a fresh temporary directory (cases carry fixture
/// directories that WASI cases open), removed on drop.
#[derive(Debug)]
pub struct BuiltinCorpus {
    dir: std::path::PathBuf,
}

impl BuiltinCorpus {
    /// Writes the corpus out.
    ///
    /// # Errors
    /// The temporary directory cannot be written.
    pub fn extract() -> std::io::Result<Self> {
        Self::extract_dir(&CORPUS)
    }

    /// Writes an embedded directory out.
    pub(crate) fn extract_dir(embedded: &include_dir::Dir<'static>) -> std::io::Result<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cage-corpus-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        let corpus = BuiltinCorpus { dir };
        embedded.extract(&corpus.dir)?;
        Ok(corpus)
    }

    /// Where the corpus was written.
    pub fn path(&self) -> &std::path::Path {
        &self.dir
    }
}

impl Drop for BuiltinCorpus {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
