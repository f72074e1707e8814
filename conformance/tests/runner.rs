//! The conformance runner's own judgement, on real runtimes: symlinks in a case's directories,
//! `unsupported` only when the declared capabilities say so, and a runtime that cannot be built
//! counted as a failure.

use cage::{
    CheckedModule, DynModule, DynRuntime, Error, HostFunctions, Policy, Rejection, RuntimeName,
};
use cage_conformance::{Case, Verdict, run_case};

fn factory(name: RuntimeName, policy: &Policy) -> Result<Box<dyn DynRuntime>, String> {
    cage::runtime_named(name, policy).map_err(|e| e.to_string())
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("cage-runner-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Symlinks already in a case's directory are copied as links into every runtime's fresh copy:
/// one pointing inside works, one pointing out (relative or absolute) does not open.
#[cfg(unix)]
#[test]
fn host_symlinks_in_case_directories() {
    let root = temp_dir("links");
    let links = root.join("links");
    std::fs::create_dir_all(&links).unwrap();
    std::fs::write(links.join("target.txt"), "inside\n").unwrap();
    std::fs::write(root.join("secret.txt"), "secret\n").unwrap();
    std::os::unix::fs::symlink("target.txt", links.join("inside")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", links.join("outside")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", links.join("absolute")).unwrap();
    let case_path = root.join("fs_host_symlinks.wat");
    std::fs::write(&case_path, include_str!("data/fs_host_symlinks.wat")).unwrap();
    let case = Case::load(&case_path, &root).unwrap();
    let r = run_case(&case, &cage::available_runtimes(), &factory);
    for (rt, v) in &r.verdicts {
        assert_eq!(*v, Verdict::Pass, "{rt}: {v:?}");
    }
    assert_ne!(r.identical, Some(false), "{:?}", r.divergence);
    // The source directory is untouched: the runs used copies.
    assert!(
        std::fs::symlink_metadata(links.join("inside"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    std::fs::remove_dir_all(&root).unwrap();
}

/// A real runtime made to answer `rejected: unsupported` for a module that uses no proposal
/// outside its declared capabilities.
struct Unsupporting(Box<dyn DynRuntime>);

impl DynRuntime for Unsupporting {
    fn name(&self) -> RuntimeName {
        self.0.name()
    }
    fn capabilities(&self) -> &cage::Capabilities {
        self.0.capabilities()
    }
    fn policy(&self) -> &Policy {
        self.0.policy()
    }
    fn check(&self, bytes: &[u8]) -> Result<CheckedModule, Error> {
        self.0.check(bytes)
    }
    fn set_disk_cache(&self, cache: Option<cage::DiskCache>) {
        self.0.set_disk_cache(cache);
    }
    fn set_memory_cache_capacity(&self, entries: usize) {
        self.0.set_memory_cache_capacity(entries);
    }
    fn cache_stats(&self) -> cage::CacheStats {
        self.0.cache_stats()
    }
    fn add_provider(&self, provider: std::sync::Arc<dyn cage::provider::ImportProvider>) {
        self.0.add_provider(provider);
    }
    fn providers(&self) -> Vec<std::sync::Arc<dyn cage::provider::ImportProvider>> {
        self.0.providers()
    }
    fn compile_dyn(
        &self,
        _: &CheckedModule,
        _: &HostFunctions,
    ) -> Result<Box<dyn DynModule>, Error> {
        Err(Error::reject(
            Rejection::Unsupported,
            "refused for the test",
        ))
    }
}

fn mvp_case() -> (std::path::PathBuf, Case) {
    let root = temp_dir("mvp");
    let path = root.join("mvp.wat");
    std::fs::write(
        &path,
        ";;! [case]\n;;! invoke = \"run\"\n;;! expect = \"returned:i32:1\"\n\
         (module (func (export \"run\") (result i32) (i32.const 1)))\n",
    )
    .unwrap();
    let case = Case::load(&path, &root).unwrap();
    (root, case)
}

/// `unsupported` is legitimate only when core's proposal detection says the module uses a
/// proposal the runtime lacks; otherwise it is that runtime's failure.
#[test]
fn unsupported_without_a_missing_proposal_is_a_failure() {
    let (root, case) = mvp_case();
    let liar = |name: RuntimeName, policy: &Policy| -> Result<Box<dyn DynRuntime>, String> {
        Ok(Box::new(Unsupporting(factory(name, policy)?)))
    };
    let rt = cage::available_runtimes()[0];
    let r = run_case(&case, &[rt], &liar);
    assert!(
        matches!(&r.verdicts[0].1, Verdict::Fail(why) if why.contains("unsupported")),
        "{:?}",
        r.verdicts
    );
    assert!(!r.pass(false));
    std::fs::remove_dir_all(&root).unwrap();
}

/// A runtime that cannot be built for a case's policy fails the case; it is never counted as
/// unsupported.
#[test]
fn a_runtime_that_cannot_be_built_is_a_failure() {
    let (root, case) = mvp_case();
    let broken = |_: RuntimeName, _: &Policy| -> Result<Box<dyn DynRuntime>, String> {
        Err("the runtime cannot start".into())
    };
    let r = run_case(&case, &cage::available_runtimes()[..1], &broken);
    assert!(
        matches!(&r.verdicts[0].1, Verdict::Fail(_)),
        "{:?}",
        r.verdicts
    );
    assert!(!r.pass(false));
    std::fs::remove_dir_all(&root).unwrap();
}
