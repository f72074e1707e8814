//! What a benchmark program is, and where programs come from: one module given on the command
//! line, or a directory laid out as Sightglass lays out its benchmarks.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cage::policy::{Dir, DirMode};
use cage::{Features, Policy, Proposal};
use serde::Deserialize;

/// The environment variable Sightglass sets when small workloads are asked for.
pub const SMALL_WORKLOAD_ENV: &str = "WASM_BENCH_USE_SMALL_WORKLOAD";

/// The name `--suite` takes for the vendored Sightglass programs.
pub const SIGHTGLASS: &str = "sightglass";

/// Where the vendored Sightglass programs are: `bench/suites/sightglass` of the source tree
/// this binary was built from.
///
/// The programs are read from there, not embedded: they are 36 MB (23 MB of `.wasm`), which
/// would make every `cage` binary 36 MB larger for a command most users never run. A binary
/// moved away from its source tree (or installed from a package that does not carry
/// `bench/suites/`) names a copy with `--suite DIR` instead.
pub fn sightglass_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("suites")
        .join(SIGHTGLASS)
}

/// What a run of a program must print and return.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expected {
    /// The exit code: 0 for a Sightglass program; `None`: whatever the first runtime says, as
    /// long as every runtime agrees.
    pub exit_code: Option<i32>,
    /// The stdout it must print (compared line by line), if the suite says.
    pub stdout: Option<Vec<u8>>,
    /// The stderr it must print (compared line by line), if the suite says.
    pub stderr: Option<Vec<u8>>,
    /// Where `stdout` came from, for messages.
    pub stdout_file: Option<PathBuf>,
    /// Where `stderr` came from, for messages.
    pub stderr_file: Option<PathBuf>,
}

/// One benchmark program: a WASI command, its capabilities and what it must print.
#[derive(Clone, Debug)]
pub struct Program {
    /// Name in reports: the manifest's, or the file stem (`bz2`, `shootout-ackermann`).
    pub name: String,
    /// The module file.
    pub wasm: PathBuf,
    /// Its bytes.
    pub bytes: Arc<[u8]>,
    /// Cage's policy for it: the `[wasi]` section is what every runtime, raw ones included, gives
    /// the program (argv, environment, stdin, preopens); the limits are the base the
    /// configurations change (`fuel`, `timeout`); the proposals are those it uses.
    pub policy: Policy,
    /// What it must print and return.
    pub expected: Expected,
    /// The manifest's notes, if any.
    pub notes: Option<String>,
    /// The proposals beyond the MVP its code uses.
    pub proposals: Vec<Proposal>,
}

impl Program {
    /// Whether its code uses proposal `p`.
    pub fn uses(&self, p: Proposal) -> bool {
        self.proposals.contains(&p)
    }
}

impl Program {
    /// A module given on the command line (`cage bench MODULE -- ARGS`): `policy` as `cage run`
    /// builds it from the flags (argv, environment, preopens, stdin already in `policy.wasi`),
    /// and no expected output: every runtime must agree with the first.
    ///
    /// # Errors
    /// The file cannot be read, or is larger than the policy's `max_module_size`.
    pub fn module(path: &Path, policy: Policy) -> Result<Program, String> {
        let bytes = cage::module::load(path, policy.limits.max_module_size.bytes())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let name = path
            .file_stem()
            .map_or_else(|| "module".into(), |s| s.to_string_lossy().into_owned());
        Ok(Program {
            name,
            wasm: path.to_owned(),
            proposals: used_proposals(&bytes),
            bytes: bytes.into(),
            policy,
            expected: Expected::default(),
            notes: None,
        })
    }
}

/// One `[[benchmark]]` of a suite's `manifest.toml` (the fields the runner reads).
#[derive(Debug, Deserialize)]
struct Entry {
    name: String,
    wasm: String,
    stdout_expected: Option<String>,
    stderr_expected: Option<String>,
    notes: Option<String>,
    /// Arguments after argv[0] (Sightglass's programs take none).
    #[serde(default)]
    args: Vec<String>,
    /// The folder preopened as `.`, relative to the manifest (default: the program's own).
    dir: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    #[serde(default)]
    benchmark: Vec<Entry>,
}

/// The proposals a module's code uses (none when it does not validate with WebAssembly 3.0).
fn used_proposals(bytes: &[u8]) -> Vec<Proposal> {
    cage::module::features_used(bytes, &Features::WASM3_NO_THREADS).unwrap_or_default()
}

/// Upstream's rule for a program's expected output: `<stem>.<stream>.expected` beside the
/// `.wasm`, else `default.<stream>.expected` in the same folder, else none.
fn expected_file(wasm: &Path, stream: &str) -> Option<PathBuf> {
    let dir = wasm.parent()?;
    let stem = wasm.file_stem()?.to_string_lossy();
    [
        dir.join(format!("{stem}.{stream}.expected")),
        dir.join(format!("default.{stream}.expected")),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// A program found in a suite.
struct Found {
    name: String,
    wasm: PathBuf,
    stdout: Option<PathBuf>,
    stderr: Option<PathBuf>,
    notes: Option<String>,
    /// Arguments after argv[0].
    args: Vec<String>,
    /// The folder preopened as `.` (default: the program's).
    dir: Option<PathBuf>,
}

/// Loads the programs of a suite directory laid out as Sightglass lays out its benchmarks:
/// `manifest.toml` when there is one (the vendored copy's, `bench/programs`'), else every
/// `*.wasm` in DIR and in its direct subdirectories. Each program gets `base` with its folder
/// (or the manifest's `dir`) preopened read-only as `.`, `argv = [file name]` followed by the
/// manifest's `args`, the environment `WASM_BENCH_USE_SMALL_WORKLOAD=1` when `small`,
/// and the proposals it uses switched on.
///
/// # Errors
/// DIR cannot be read, the manifest is malformed, or a listed file is missing.
pub fn load_suite(dir: &Path, base: &Policy, small: bool) -> Result<Vec<Program>, String> {
    load_suite_matching(dir, base, small, None)
}

/// [`load_suite`], keeping only the programs whose name contains `filter` (when given): the
/// others are not read, so `--filter` on a large suite does not scan every module.
///
/// # Errors
/// As [`load_suite`].
pub fn load_suite_matching(
    dir: &Path,
    base: &Policy,
    small: bool,
    filter: Option<&str>,
) -> Result<Vec<Program>, String> {
    let manifest = dir.join("manifest.toml");
    let mut found: Vec<Found> = Vec::new();
    if manifest.is_file() {
        let text = std::fs::read_to_string(&manifest)
            .map_err(|e| format!("{}: {e}", manifest.display()))?;
        let m: Manifest =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", manifest.display()))?;
        for e in m.benchmark {
            found.push(Found {
                name: e.name,
                wasm: dir.join(&e.wasm),
                stdout: e.stdout_expected.map(|p| dir.join(p)),
                stderr: e.stderr_expected.map(|p| dir.join(p)),
                notes: e.notes,
                args: e.args,
                dir: e.dir.map(|d| dir.join(d)),
            });
        }
    } else {
        let mut wasm = Vec::new();
        let mut scan = |d: &Path, recurse: bool| -> Result<(), String> {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(d)
                .map_err(|e| format!("{}: {e}", d.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for p in entries {
                if p.extension().is_some_and(|x| x == "wasm") && p.is_file() {
                    wasm.push(p);
                } else if recurse && p.is_dir() {
                    let mut inner: Vec<PathBuf> = std::fs::read_dir(&p)
                        .map_err(|e| format!("{}: {e}", p.display()))?
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file())
                        .collect();
                    inner.sort();
                    wasm.extend(inner);
                }
            }
            Ok(())
        };
        scan(dir, true)?;
        for w in wasm {
            let stem = w
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            // `NAME/benchmark.wasm` is named after its folder.
            let name = if stem == "benchmark" {
                w.parent()
                    .and_then(Path::file_name)
                    .map_or(stem.clone(), |n| n.to_string_lossy().into_owned())
            } else {
                stem
            };
            let (stdout, stderr) = (expected_file(&w, "stdout"), expected_file(&w, "stderr"));
            found.push(Found {
                name,
                wasm: w,
                stdout,
                stderr,
                notes: None,
                args: Vec::new(),
                dir: None,
            });
        }
    }
    if found.is_empty() {
        return Err(format!(
            "{}: no programs (neither manifest.toml nor *.wasm files)",
            dir.display()
        ));
    }
    if let Some(f) = filter {
        found.retain(|p| p.name.contains(f));
    }
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut programs = Vec::with_capacity(found.len());
    for f in found {
        let Found {
            name,
            wasm,
            stdout: out,
            stderr: err,
            notes,
            args,
            dir: folder,
        } = f;
        let bytes = read(&wasm)?;
        let folder = folder.unwrap_or_else(|| {
            wasm.parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        });
        if !folder.is_dir() {
            return Err(format!("{name}: {} is not a directory", folder.display()));
        }
        let mut policy = base.clone();
        let w = &mut policy.wasi;
        w.args = vec![wasm.file_name().map_or_else(
            || "benchmark.wasm".into(),
            |n| n.to_string_lossy().into_owned(),
        )];
        w.args.extend(args);
        w.dirs.push(Dir::new(folder, ".", DirMode::Ro));
        if small {
            w.env.insert(SMALL_WORKLOAD_ENV.to_owned(), "1".to_owned());
        }
        // Switched on, so that a suite runs every program it holds (GC ones included) where
        // the runtime supports them.
        let proposals = used_proposals(&bytes);
        for p in &proposals {
            policy.features.set(*p, true);
        }
        let expected = Expected {
            exit_code: Some(0),
            stdout: out.as_deref().map(read).transpose()?,
            stderr: err.as_deref().map(read).transpose()?,
            stdout_file: out,
            stderr_file: err,
        };
        programs.push(Program {
            name,
            wasm,
            proposals,
            bytes: bytes.into(),
            policy,
            expected,
            notes,
        });
    }
    Ok(programs)
}

/// Output compared as Sightglass compares it: line by line, so `\r\n` against `\n` and a missing
/// final newline do not matter.
pub fn same_lines(a: &[u8], b: &[u8]) -> bool {
    fn lines(s: &[u8]) -> Vec<&[u8]> {
        let mut v: Vec<&[u8]> = s
            .split(|&c| c == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .collect();
        if v.last().is_some_and(|l| l.is_empty()) {
            v.pop();
        }
        v
    }
    lines(a) == lines(b)
}

/// The first line where two outputs differ, for a failure message.
pub fn first_difference(got: &[u8], want: &[u8]) -> String {
    let g: Vec<String> = String::from_utf8_lossy(got)
        .lines()
        .map(str::to_owned)
        .collect();
    let w: Vec<String> = String::from_utf8_lossy(want)
        .lines()
        .map(str::to_owned)
        .collect();
    let cut = |s: &str| {
        let s: String = s.chars().take(80).collect();
        format!("{s:?}")
    };
    for i in 0..g.len().max(w.len()) {
        match (g.get(i), w.get(i)) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => {
                return format!(
                    "line {}: got {}, expected {}",
                    i + 1,
                    a.map_or_else(|| "end of output".to_owned(), |a| cut(a)),
                    b.map_or_else(|| "end of output".to_owned(), |b| cut(b)),
                );
            }
        }
    }
    "identical".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_compare_as_sightglass_compares_them() {
        assert!(same_lines(b"a\nb\n", b"a\r\nb"));
        assert!(same_lines(b"", b""));
        assert!(!same_lines(b"a\n\n", b"a\n"));
        assert!(!same_lines(b"a\nc\n", b"a\nb\n"));
        assert_eq!(
            first_difference(b"a\nc\n", b"a\nb\n"),
            "line 2: got \"c\", expected \"b\""
        );
    }

    #[test]
    fn the_vendored_manifest_loads() {
        let programs = load_suite(&sightglass_dir(), &Policy::default(), false).unwrap();
        assert_eq!(programs.len(), 117);
        let splay = programs.iter().find(|p| p.name == "splay").unwrap();
        assert!(splay.policy.features.contains(Proposal::Gc) && splay.uses(Proposal::Gc));
        let blake3 = programs.iter().find(|p| p.name == "blake3-simd").unwrap();
        assert!(blake3.uses(Proposal::Simd) && !blake3.uses(Proposal::Gc));
        let noop = programs.iter().find(|p| p.name == "noop").unwrap();
        assert_eq!(noop.policy.wasi.dirs[0].guest, ".");
        assert!(noop.expected.stdout.is_some());
        let hashset = programs.iter().find(|p| p.name == "hashset").unwrap();
        assert!(hashset.expected.stdout.is_none());
    }
}
