//! The case format: a `.wat` file whose leading `;;!` lines are a TOML document (policy sections
//! plus `[case]`), or a `.wasm` file with a sidecar `NAME.toml`.

use std::fmt;
use std::path::{Path, PathBuf};

use cage_core::policy::PolicyOverlay;
use cage_core::{Outcome, Policy, Rejection, Trap, Value};
use serde::Deserialize;

/// Why a case file could not be read. A broken *module* is not a load error: it is run, and
/// every runtime must reject it the same way.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file or its sidecar could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML header is invalid.
    #[error("{path}: {message}")]
    Header {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The `[case]` section.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseSpec {
    /// Export to call; absent = run as a WASI command (`_start`), or just instantiate when the
    /// module has no `_start`.
    pub invoke: Option<String>,
    /// Arguments of `invoke`, typed: `"i32:7"`.
    #[serde(default)]
    pub args: Vec<String>,
    /// Expected outcome: `returned`, `returned:i32:42[,…]`, `exited:N`, `trapped:NAME`,
    /// `rejected:NAME`.
    pub expect: String,
    /// Expected captured stdout.
    pub expect_stdout: Option<String>,
    /// Expected captured stderr (extension).
    pub expect_stderr: Option<String>,
    /// Bytes on the guest's stdin.
    pub stdin: Option<String>,
    /// One line saying what the case attacks.
    pub description: Option<String>,
    /// Runtimes may differ on this case, for this documented reason.
    pub allow_divergence: Option<String>,
    /// Exports called first, in order, with zero arguments, on the same instance; their
    /// outcomes (traps included) are ignored. (Extension: reproduces state carried across
    /// calls, such as the fuel left after a trap.)
    #[serde(default)]
    pub before: Vec<String>,
    /// Things made in the case's directories before each run, in each runtime's fresh copy
    /// (extension): what a corpus embedded in a binary cannot carry, such as a FIFO or a
    /// directory of twenty thousand files.
    #[serde(default)]
    pub make: Vec<Make>,
}

/// One thing made in a case's directory before it runs (`[[case.make]]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Make {
    /// The `[[wasi.dirs]]` entry it is made in, by position (default 0).
    #[serde(default)]
    pub dir: usize,
    /// Its path inside that directory (relative, no `..`).
    pub path: String,
    /// What it is.
    pub kind: MakeKind,
    /// For `files`: how many. For `file`: its size in bytes (a sparse file).
    #[serde(default)]
    pub count: u64,
}

/// What `[[case.make]]` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MakeKind {
    /// A named pipe (FIFO).
    Fifo,
    /// A directory holding `count` empty files named `00000`, `00001`, ….
    Files,
    /// A file of `count` bytes (sparse: zeros that take no disk).
    File,
}

impl Make {
    /// Makes it under `root` (the case directory's copy).
    ///
    /// # Errors
    /// A path that leaves `root`, or the host refusing.
    pub fn make(&self, root: &Path) -> std::io::Result<()> {
        let rel = Path::new(&self.path);
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(std::io::Error::other(format!(
                "[[case.make]] path `{}` must be relative, without `..`",
                self.path
            )));
        }
        let at = root.join(rel);
        match self.kind {
            MakeKind::Fifo => make_fifo(&at),
            MakeKind::Files => {
                std::fs::create_dir_all(&at)?;
                let width = self.count.to_string().len().max(5);
                for i in 0..self.count {
                    std::fs::File::create(at.join(format!("{i:0width$}")))?;
                }
                Ok(())
            }
            MakeKind::File => std::fs::File::create(&at)?.set_len(self.count),
        }
    }
}

#[cfg(unix)]
fn make_fifo(at: &Path) -> std::io::Result<()> {
    rustix::fs::mkfifoat(rustix::fs::CWD, at, rustix::fs::Mode::from_raw_mode(0o600))
        .map_err(std::io::Error::from)
}

#[cfg(not(unix))]
fn make_fifo(at: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other(format!(
        "cannot make the FIFO {} on this platform",
        at.display()
    )))
}

/// An expected value: exact, or any NaN (`f32:nan`, `f64:nan`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpectValue {
    /// This exact value (floats by bits).
    Exact(Value),
    /// Any f32 NaN.
    AnyNanF32,
    /// Any f64 NaN.
    AnyNanF64,
}

impl ExpectValue {
    fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "f32:nan" => Ok(ExpectValue::AnyNanF32),
            "f64:nan" => Ok(ExpectValue::AnyNanF64),
            other => other.parse().map(ExpectValue::Exact),
        }
    }

    /// Whether `v` satisfies the expectation.
    pub fn matches(&self, v: &Value) -> bool {
        match (self, v) {
            (ExpectValue::Exact(e), v) => e == v,
            (ExpectValue::AnyNanF32, Value::F32(b)) => f32::from_bits(*b).is_nan(),
            (ExpectValue::AnyNanF64, Value::F64(b)) => f64::from_bits(*b).is_nan(),
            _ => false,
        }
    }
}

/// A parsed `expect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Returned, with these values (`None` = any values).
    Returned(Option<Vec<ExpectValue>>),
    /// Exited with this code.
    Exited(i32),
    /// Trapped with this trap.
    Trapped(Trap),
    /// Rejected for this reason.
    Rejected(Rejection),
}

impl Expect {
    /// Parses the `expect` string.
    ///
    /// # Errors
    /// An unknown outcome class, trap or rejection name, or a bad value.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (class, rest) = match s.split_once(':') {
            Some((c, r)) => (c, Some(r)),
            None => (s, None),
        };
        match (class, rest) {
            ("returned", None) => Ok(Expect::Returned(None)),
            ("returned", Some("")) => Ok(Expect::Returned(Some(Vec::new()))),
            ("returned", Some(vals)) => vals
                .split(',')
                .map(ExpectValue::parse)
                .collect::<Result<_, _>>()
                .map(|v| Expect::Returned(Some(v))),
            ("exited", Some(n)) => n
                .trim()
                .parse()
                .map(Expect::Exited)
                .map_err(|_| format!("bad exit code in `{s}`")),
            ("trapped", Some(t)) => t.parse().map(Expect::Trapped),
            ("rejected", Some(r)) => r.parse().map(Expect::Rejected),
            _ => Err(format!(
                "bad expect `{s}`: use returned, returned:i32:42, exited:N, trapped:NAME or rejected:NAME"
            )),
        }
    }

    /// Whether `o` satisfies the expectation.
    pub fn matches(&self, o: &Outcome) -> bool {
        match (self, o) {
            (Expect::Returned(None), Outcome::Returned(_)) => true,
            (Expect::Returned(Some(e)), Outcome::Returned(v)) => {
                e.len() == v.len() && e.iter().zip(v).all(|(e, v)| e.matches(v))
            }
            (Expect::Exited(e), Outcome::Exited(c)) => e == c,
            (Expect::Trapped(e), Outcome::Trapped(t)) => e == t,
            (Expect::Rejected(e), Outcome::Rejected(r)) => e == r,
            _ => false,
        }
    }
}

/// One conformance case.
#[derive(Clone, Debug)]
pub struct Case {
    /// Name: the path relative to the corpus root, without extension.
    pub name: String,
    /// The case file.
    pub path: PathBuf,
    /// The module source (WebAssembly text or binary) as written.
    pub source: Vec<u8>,
    /// The `[case]` section.
    pub spec: CaseSpec,
    /// The parsed `expect`.
    pub expect: Expect,
    /// The policy: the default preset under the case's sections.
    pub policy: Policy,
    /// Typed arguments.
    pub args: Vec<Value>,
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// The TOML header of a `.wat` case: its leading `;;!` lines, prefix removed.
pub fn header_of(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix(";;!") {
            out.push_str(rest.strip_prefix(' ').unwrap_or(rest));
            out.push('\n');
        } else if t.is_empty() {
            continue;
        } else {
            break;
        }
    }
    out
}

impl Case {
    /// Loads a case file (`.wat` with a `;;!` header, or `.wasm` with `NAME.toml` beside it).
    /// `root` names the case relative to a corpus directory.
    ///
    /// # Errors
    /// Unreadable files, and headers that are not valid TOML, have unknown keys, or a bad
    /// `expect`.
    pub fn load(path: &Path, root: &Path) -> Result<Case, LoadError> {
        let io = |p: &Path| {
            let p = p.to_owned();
            move |source| LoadError::Io { path: p, source }
        };
        let source = std::fs::read(path).map_err(io(path))?;
        let header = if path.extension().is_some_and(|e| e == "wasm") {
            let side = path.with_extension("toml");
            std::fs::read_to_string(&side).map_err(io(&side))?
        } else {
            header_of(&String::from_utf8_lossy(&source))
        };
        let bad = |message: String| LoadError::Header {
            path: path.to_owned(),
            message,
        };
        let mut table: toml::Table = toml::from_str(&header).map_err(|e| bad(e.to_string()))?;
        let spec: CaseSpec = match table.remove("case") {
            Some(v) => v
                .try_into()
                .map_err(|e: toml::de::Error| bad(format!("[case]: {e}")))?,
            None => return Err(bad("no [case] section".into())),
        };
        let expect = Expect::parse(&spec.expect).map_err(&bad)?;
        let overlay = PolicyOverlay::from_table(table).map_err(|e| bad(e.to_string()))?;
        let mut policy = overlay
            .apply(Policy::default(), path.parent())
            .map_err(|e| bad(e.to_string()))?;
        if let Some(stdin) = &spec.stdin {
            policy.wasi.stdin = Some(stdin.clone().into_bytes());
        }
        for m in &spec.make {
            if m.dir >= policy.wasi.dirs.len() {
                return Err(bad(format!(
                    "[[case.make]] {} names wasi.dirs entry {}, but the case has {}",
                    m.path,
                    m.dir,
                    policy.wasi.dirs.len()
                )));
            }
        }
        let args = spec
            .args
            .iter()
            .map(|a| a.parse::<Value>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("[case] args: {e}")))?;
        let rel = path.strip_prefix(root).unwrap_or(path);
        let name = rel.with_extension("").to_string_lossy().replace('\\', "/");
        Ok(Case {
            name,
            path: path.to_owned(),
            source,
            spec,
            expect,
            policy,
            args,
        })
    }
}

/// Every case file under `path` (recursively, sorted), or `path` itself if it is a file, each
/// loaded or with the reason it did not load: for runners that report a bad case file as a
/// failed case and go on.
///
/// # Errors
/// `path` cannot be read.
pub fn load_each(path: &Path) -> Result<Vec<Result<Case, LoadError>>, LoadError> {
    let mut files = Vec::new();
    let root = if path.is_dir() {
        path.to_owned()
    } else {
        path.parent().unwrap_or(Path::new("")).to_owned()
    };
    collect(path, &mut files).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    files.sort();
    Ok(files.iter().map(|f| Case::load(f, &root)).collect())
}

/// Every case file under `path` (recursively, sorted), or `path` itself if it is a file.
///
/// # Errors
/// The first case that does not load.
pub fn load_cases(path: &Path) -> Result<Vec<Case>, LoadError> {
    load_each(path)?.into_iter().collect()
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            collect(&entry?.path(), out)?;
        }
    } else if path.extension().is_some_and(|e| e == "wat" || e == "wasm") {
        out.push(path.to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_parse_and_match() {
        assert!(
            Expect::parse("returned")
                .unwrap()
                .matches(&Outcome::Returned(vec![Value::I32(1)]))
        );
        let e = Expect::parse("returned:i32:1,i64:2").unwrap();
        assert!(e.matches(&Outcome::Returned(vec![Value::I32(1), Value::I64(2)])));
        assert!(!e.matches(&Outcome::Returned(vec![Value::I32(1)])));
        assert!(
            Expect::parse("returned:f32:nan")
                .unwrap()
                .matches(&Outcome::Returned(vec![Value::F32(0x7fa0_0000)]))
        );
        assert!(
            Expect::parse("trapped:out_of_fuel")
                .unwrap()
                .matches(&Outcome::Trapped(Trap::OutOfFuel))
        );
        assert!(
            Expect::parse("exited:3")
                .unwrap()
                .matches(&Outcome::Exited(3))
        );
        assert!(
            !Expect::parse("rejected:invalid_module")
                .unwrap()
                .matches(&Outcome::Trapped(Trap::Other))
        );
        for bad in [
            "trapped:nope",
            "rejected",
            "exited:x",
            "gone",
            "returned:i99:1",
        ] {
            assert!(Expect::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_stops_at_the_module() {
        let h = header_of(";;! [case]\n;;! expect = \"returned\"\n(module)\n;;! not header\n");
        assert_eq!(h, "[case]\nexpect = \"returned\"\n");
    }
}
