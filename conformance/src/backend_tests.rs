//! What a backend's own tests (`backend-*/tests/`) share: the corpus on that backend alone, and
//! what a guest must see of a memory another guest used before it.

use cage_core::backend::Backend;
use cage_core::{DynRuntime, Error, Policy, RuntimeName, Sandbox, Trap, Value};

use crate::{Verdict, corpus_dir, load_cases, run_case};

/// One check of a backend's tests: its name, and what it runs (`Err` says what failed). A test
/// harness turns it into a test (`libtest_mimic::Trial::test`).
pub type Check = (String, Box<dyn FnOnce() -> Result<(), String> + Send>);

/// Every case of the built-in corpus on `runtime` alone, made by `make`: one check per case,
/// named `corpus::CASE::RUNTIME`, that passes on the case's expected outcome, or where the
/// runtime's declared capabilities exclude a proposal the case uses (`unsupported`).
///
/// # Panics
/// The corpus cannot be loaded.
pub fn corpus_checks<M>(runtime: RuntimeName, make: M) -> Vec<Check>
where
    M: Fn(&Policy) -> Result<Box<dyn DynRuntime>, Error> + Clone + Send + Sync + 'static,
{
    let cases = load_cases(&corpus_dir()).unwrap_or_else(|e| panic!("cannot load the corpus: {e}"));
    cases
        .into_iter()
        .map(|case| {
            let name = format!("corpus::{}::{runtime}", case.name);
            let make = make.clone();
            let run = move || {
                let factory = |_: RuntimeName, p: &Policy| make(p).map_err(|e| e.to_string());
                match run_case(&case, &[runtime], &factory)
                    .verdicts
                    .swap_remove(0)
                    .1
                {
                    Verdict::Fail(why) => Err(why),
                    Verdict::Pass | Verdict::Unsupported(_) => Ok(()),
                }
            };
            (
                name,
                Box::new(run) as Box<dyn FnOnce() -> Result<(), String> + Send>,
            )
        })
        .collect()
}

/// Asserts that a freshly instantiated `sandbox` sees nothing of an earlier guest in its
/// memory: `data` (the module's data segment at address 0; empty for none) and zeros at 1000
/// and 65532, one page, and an out-of-bounds trap at 70 000 (where a grown page would be).
/// The guest exports `load(i32) -> i32` (an `i32.load`) and `pages() -> i32` (`memory.size`),
/// with one initial page. `what` names the case in a failure.
///
/// # Panics
/// Whatever differs, naming `what` and the address.
pub fn assert_fresh_memory<B: Backend>(sandbox: &mut Sandbox<B>, data: &[u8], what: &str) {
    let mut load = |addr: i32| match sandbox.call("load", &[Value::I32(addr)]) {
        Ok(v) => match v.as_slice() {
            [Value::I32(x)] => Ok(*x),
            other => panic!("{what}: `load` returned {other:?}"),
        },
        Err(e) => Err(e),
    };
    let mut word = [0; 4];
    let n = data.len().min(4);
    word[..n].copy_from_slice(&data[..n]);
    let want = i32::from_le_bytes(word);
    assert_eq!(load(0).unwrap(), want, "{what}: data segment at 0");
    for addr in [1000, 65532] {
        assert_eq!(load(addr).unwrap(), 0, "{what}: memory at {addr}");
    }
    let e = load(70_000).expect_err("one page: 70 000 is out of bounds");
    assert_eq!(
        e.as_trap(),
        Some(Trap::MemoryOutOfBounds),
        "{what}: at 70 000: {e:?}"
    );
    let pages = sandbox.call("pages", &[]).unwrap();
    assert_eq!(pages, [Value::I32(1)], "{what}: initial size");
}
