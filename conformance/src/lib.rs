//! Cage's conformance suite: hostile modules as data, run on every runtime, each demanding the
//! expected outcome and one identical outcome across runtimes.
//!
//! A case is a `.wat` file whose leading `;;!` lines form a TOML document: the policy sections
//! (`[limits]`, `[features]`, `[wasi]`, `[[wasi.dirs]]`) plus a `[case]` section (see
//! [`CaseSpec`]). A `.wasm` case takes the same TOML from a sidecar `NAME.toml`. The built-in
//! corpus is in `conformance/cases/`; `conformance/README.md` says how to run, filter and add
//! cases.

#![warn(missing_docs)]

mod case;
pub mod fuzz;
mod host;
mod runner;
pub mod spec;
pub mod spectest;

pub use case::{Case, CaseSpec, Expect, ExpectValue, LoadError, header_of, load_cases};
pub use host::host_functions;
pub use runner::{CaseResult, Factory, Verdict, run_case};

/// The built-in corpus directory in this source tree.
pub fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")
}
