//! Flags shared by the commands that take a policy.

use std::path::PathBuf;
use std::time::Duration;

use cage::policy::{Dir, DirMode, Limit, PolicyOverlay, parse_duration};
use cage::{Policy, PolicyError, Preset, Size};
use clap::Args;

fn parse_size(s: &str) -> Result<Size, String> {
    s.parse()
}

fn parse_fuel(s: &str) -> Result<Limit<u64>, String> {
    match s {
        "none" | "unlimited" => Ok(Limit::Off),
        _ => s.replace('_', "").parse().map(Limit::On).map_err(|_| {
            format!("invalid fuel `{s}`: expected a whole number of units (1_000_000) or `none`")
        }),
    }
}

fn parse_count(s: &str) -> Result<u64, String> {
    s.replace('_', "")
        .parse()
        .map_err(|_| format!("invalid count `{s}`: expected a whole number (10_000)"))
}

fn parse_timeout(s: &str) -> Result<Limit<Duration>, String> {
    match s {
        "none" => Ok(Limit::Off),
        _ => parse_duration(s).and_then(|d| {
            if d.is_zero() {
                Err("the timeout must be longer than 0".into())
            } else {
                Ok(Limit::On(d))
            }
        }),
    }
}

/// The policy: a preset, a policy file over it, and flags over both.
#[derive(Args, Debug)]
pub(crate) struct PolicyArgs {
    /// Policy file (TOML); its keys override the preset.
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: Option<PathBuf>,
    /// Preset to start from: strict, default, permissive.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Fuel budget (or `none`).
    #[arg(long, value_name = "N", value_parser = parse_fuel, allow_hyphen_values = true)]
    pub fuel: Option<Limit<u64>>,
    /// Wall-clock deadline per call, e.g. 500ms, 2s (or `none`).
    #[arg(long, value_name = "DUR", value_parser = parse_timeout, allow_hyphen_values = true)]
    pub timeout: Option<Limit<Duration>>,
    /// Maximum size of each linear memory, e.g. 65536 or "64 MiB".
    #[arg(long, value_name = "SIZE", value_parser = parse_size, allow_hyphen_values = true)]
    pub max_memory: Option<Size>,
    /// Maximum elements of each table.
    #[arg(long, value_name = "N", value_parser = parse_count, allow_hyphen_values = true)]
    pub max_table_elements: Option<u64>,
    /// Guest stack size, e.g. "512 KiB".
    #[arg(long, value_name = "SIZE", value_parser = parse_size, allow_hyphen_values = true)]
    pub max_stack: Option<Size>,
    /// Set any [limits] key, validated as in a policy file (repeatable), e.g.
    /// --limit max_module_size=32MiB --limit max_data_segments=30000. The limit flags above
    /// win over --limit for the same key.
    #[arg(long = "limit", value_name = "KEY=VALUE", value_parser = parse_limit)]
    pub(crate) limits: Vec<LimitFlag>,
}

/// One `--limit KEY=VALUE`: a `[limits]` key and its value as TOML.
#[derive(Clone, Debug)]
pub(crate) struct LimitFlag {
    /// The key.
    pub(crate) key: String,
    /// As written on the command line.
    pub(crate) text: String,
    overlay: PolicyOverlay,
}

/// Parses `KEY=VALUE` as the line `KEY = VALUE` under `[limits]` of a policy file: the value
/// as TOML (`1_000_000`, `true`, `"64 MiB"`), or else as a string (`64MiB`, `2s`, `none`), so
/// that the same keys, units and checks apply as in a file.
fn parse_limit(s: &str) -> Result<LimitFlag, String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected KEY=VALUE, a [limits] key and its value"))?;
    let key = key.trim();
    let value = value.trim();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return Err(format!(
            "`{s}`: `{key}` is not a [limits] key (e.g. max_module_size, max_data_segments)"
        ));
    }
    let as_toml = |v: &str| PolicyOverlay::from_toml(&format!("[limits]\n{key} = {v}\n"));
    let quoted = toml::Value::String(value.to_owned()).to_string();
    let overlay = as_toml(value)
        .or_else(|_| as_toml(&quoted))
        .map_err(|e| format!("`{s}`: {e}"))?;
    // Values are checked by applying them, as a policy file's are.
    overlay
        .apply(Policy::default(), None)
        .map_err(|e| format!("`{s}`: {e}"))?;
    Ok(LimitFlag {
        key: key.to_owned(),
        text: s.to_owned(),
        overlay,
    })
}

/// Where the effective value of a policy key comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// A command-line flag, as written (`--limit max_memory=1GiB`, `--max-memory`).
    Flag(String),
    /// A policy file, with the line that sets the key when it can be found.
    File(PathBuf, Option<usize>),
    /// The preset, by name.
    Preset(&'static str),
}

impl Source {
    /// `preset`, `file` or `flag`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Source::Flag(_) => "flag",
            Source::File(..) => "file",
            Source::Preset(_) => "preset",
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "set by {flag}"),
            Source::File(path, Some(line)) => write!(f, "set in {} line {line}", path.display()),
            Source::File(path, None) => write!(f, "set in {}", path.display()),
            Source::Preset(name) => write!(f, "the `{name}` preset"),
        }
    }
}

/// The line (1-based) of `text` that sets `key` in `[section]`, if any.
fn line_of(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            current = name.trim_matches(['[', ']']).trim().to_owned();
            continue;
        }
        let Some((k, _)) = t.split_once('=') else {
            continue;
        };
        let k = k.trim();
        if (current == section && k == key)
            || (current.is_empty() && k == format!("{section}.{key}"))
        {
            return Some(n + 1);
        }
    }
    None
}

impl PolicyArgs {
    /// Builds and validates the policy.
    pub(crate) fn policy(&self) -> Result<Policy, PolicyError> {
        Ok(self.layers()?.2)
    }

    /// Whether no policy flag was given at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.policy.is_none()
            && self.preset.is_none()
            && self.fuel.is_none()
            && self.timeout.is_none()
            && self.max_memory.is_none()
            && self.max_table_elements.is_none()
            && self.max_stack.is_none()
            && self.limits.is_empty()
    }

    /// The limit flags that set `[limits]` keys, as written, with the key each sets; later
    /// ones win.
    fn limit_flags(&self) -> Vec<(&str, String)> {
        let mut out: Vec<(&str, String)> = self
            .limits
            .iter()
            .map(|l| (l.key.as_str(), format!("--limit {}", l.text)))
            .collect();
        let named = [
            ("fuel", self.fuel.is_some(), "--fuel"),
            ("timeout", self.timeout.is_some(), "--timeout"),
            ("max_memory", self.max_memory.is_some(), "--max-memory"),
            (
                "max_table_elements",
                self.max_table_elements.is_some(),
                "--max-table-elements",
            ),
            ("max_stack", self.max_stack.is_some(), "--max-stack"),
        ];
        for (key, given, flag) in named {
            if given {
                out.push((key, flag.to_owned()));
            }
        }
        out
    }

    /// Where the effective value of `section.key` comes from: the last flag that sets it, else
    /// the policy file when it names the key, else the preset.
    pub(crate) fn source_of(&self, section: &str, key: &str) -> Source {
        if section == "limits"
            && let Some((_, flag)) = self
                .limit_flags()
                .into_iter()
                .rev()
                .find(|(k, _)| *k == key)
        {
            return Source::Flag(flag);
        }
        let mut preset = self
            .preset
            .as_deref()
            .and_then(|p| p.parse::<Preset>().ok());
        if let Some(path) = &self.policy
            && let Ok(text) = std::fs::read_to_string(path)
            && let Ok(table) = text.parse::<toml::Table>()
        {
            let set = table
                .get(section)
                .and_then(|s| s.as_table())
                .is_some_and(|s| s.contains_key(key));
            if set {
                return Source::File(path.clone(), line_of(&text, section, key));
            }
            if preset.is_none() {
                preset = table
                    .get("preset")
                    .and_then(|p| p.as_str())
                    .and_then(|p| p.parse().ok());
            }
        }
        Source::Preset(preset.unwrap_or_default().name())
    }

    /// A refusal by static limits, told so that a person can act on it: every limit the
    /// module exceeds, each with the module's value, the limit in force and where it comes
    /// from, and the flag or policy line that raises it.
    pub(crate) fn limits_refusal(&self, exceeded: &[cage::module::Exceeded]) -> String {
        let mut parts = Vec::new();
        for e in exceeded {
            let source = self.source_of("limits", e.key);
            let raise = match &source {
                Source::File(path, line) => format!(
                    "raise it in {}{} (`{} = {}`) or with --limit {}={}",
                    path.display(),
                    line.map_or_else(String::new, |l| format!(" line {l}")),
                    e.key,
                    toml::Value::String(e.suggestion()),
                    e.key,
                    e.suggestion().replace(' ', "")
                ),
                _ => format!(
                    "raise it with --limit {}={} (or `{} = {}` under [limits] in a policy file)",
                    e.key,
                    e.suggestion().replace(' ', ""),
                    e.key,
                    if e.is_size {
                        toml::Value::String(e.suggestion()).to_string()
                    } else {
                        e.suggestion()
                    }
                ),
            };
            parts.push(format!(
                "{}, more than limits.{} = {} ({source}): {raise}",
                e.what,
                e.key,
                e.format_value(e.limit)
            ));
        }
        let head = if exceeded.len() == 1 {
            "the module exceeds a static limit".to_owned()
        } else {
            format!("the module exceeds {} static limits", exceeded.len())
        };
        format!("{head}: {}", parts.join("; "))
    }

    /// `policy` with the `--limit` flags laid over it, in order.
    ///
    /// # Errors
    /// A value the policy refuses in combination (validated as a policy file is).
    pub(crate) fn apply_limit_flags(&self, mut policy: Policy) -> Result<Policy, PolicyError> {
        for flag in &self.limits {
            policy = flag.overlay.apply(policy, None)?;
        }
        Ok(policy)
    }

    /// The preset, the policy after the file, and the final policy after the flags.
    pub(crate) fn layers(&self) -> Result<(Policy, Policy, Policy), PolicyError> {
        let preset: Preset = match &self.preset {
            Some(p) => p.parse()?,
            None => Preset::Default,
        };
        let mut base = preset;
        let mut policy = match &self.policy {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
                    path: path.clone(),
                    source: source.into(),
                })?;
                let mut overlay = PolicyOverlay::from_toml(&text)?;
                if self.preset.is_some() {
                    overlay.preset = None;
                } else if let Some(name) = &overlay.preset {
                    // The file's own preset is the base its keys are read against.
                    base = name.parse()?;
                }
                overlay.apply(preset.policy(), path.parent())?
            }
            None => preset.policy(),
        };
        let after_file = policy.clone();
        policy = self.apply_limit_flags(policy)?;
        let l = &mut policy.limits;
        if let Some(f) = self.fuel {
            l.fuel = f.into_option();
        }
        if let Some(t) = self.timeout {
            l.timeout = t.into_option();
        }
        if let Some(m) = self.max_memory {
            l.max_memory = m;
        }
        if let Some(n) = self.max_table_elements {
            l.max_table_elements = n;
        }
        if let Some(s) = self.max_stack {
            l.max_stack = s;
        }
        policy.validate()?;
        Ok((base.policy(), after_file, policy))
    }
}

/// The WASI capability flags `cage run` and `cage profile` share.
#[derive(Args, Debug, Default)]
pub(crate) struct WasiArgs {
    /// Preopen a host directory read-write for a WASI guest (repeatable).
    #[arg(long = "dir", value_name = "HOST::GUEST")]
    pub(crate) dirs: Vec<String>,
    /// Preopen a host directory read-only for a WASI guest (repeatable).
    #[arg(long = "dir-ro", value_name = "HOST::GUEST")]
    pub(crate) dirs_ro: Vec<String>,
    /// Set an environment variable for a WASI guest (repeatable); nothing else is inherited.
    #[arg(long = "env", value_name = "K=V")]
    pub(crate) envs: Vec<String>,
    /// Give a WASI guest this file's bytes on stdin (`-`: the host's standard input).
    #[arg(long, value_name = "FILE")]
    pub(crate) stdin: Option<PathBuf>,
}

impl WasiArgs {
    /// Whether no WASI flag was given.
    pub(crate) fn is_empty(&self) -> bool {
        self.dirs.is_empty()
            && self.dirs_ro.is_empty()
            && self.envs.is_empty()
            && self.stdin.is_none()
    }

    /// Checks that every preopened directory (from a flag or the policy file) can be opened,
    /// before any runtime is made: a missing one is a file the command cannot read, named with
    /// the flag or file that grants it.
    ///
    /// # Errors
    /// The first directory that is not one, naming where it was granted.
    pub(crate) fn check_dirs(
        &self,
        policy: &Policy,
        file: Option<&std::path::Path>,
    ) -> Result<(), String> {
        for d in &policy.wasi.dirs {
            if std::fs::metadata(&d.host).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            let spec = format!("{}::{}", d.host.display(), d.guest);
            let granted = if self.dirs.contains(&spec) {
                format!("--dir {spec}")
            } else if self.dirs_ro.contains(&spec) {
                format!("--dir-ro {spec}")
            } else {
                format!(
                    "[[wasi.dirs]] guest = \"{}\" in {}",
                    d.guest,
                    file.map_or_else(|| "the policy".to_owned(), |f| f.display().to_string())
                )
            };
            let why = match std::fs::metadata(&d.host) {
                Ok(_) => "not a directory".to_owned(),
                Err(e) => e.to_string(),
            };
            return Err(format!(
                "{granted}: cannot open {}: {why}",
                d.host.display()
            ));
        }
        Ok(())
    }

    /// Lays the directories, variables and stdin over the policy.
    ///
    /// # Errors
    /// A malformed flag (usage), or a `--stdin` file that cannot be read (filesystem).
    pub(crate) fn apply_with_kind(
        &self,
        policy: &mut Policy,
    ) -> Result<(), (crate::ErrorKind, String)> {
        use crate::ErrorKind::{Filesystem, Usage};
        let w = &mut policy.wasi;
        for (spec, mode) in self
            .dirs
            .iter()
            .map(|d| (d, DirMode::Rw))
            .chain(self.dirs_ro.iter().map(|d| (d, DirMode::Ro)))
        {
            let (host, guest) = spec
                .split_once("::")
                .ok_or_else(|| (Usage, format!("--dir `{spec}`: expected HOST::GUEST")))?;
            w.dirs.push(Dir::new(host, guest, mode));
        }
        for kv in &self.envs {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| (Usage, format!("--env `{kv}`: expected K=V")))?;
            w.env.insert(k.to_owned(), v.to_owned());
        }
        if let Some(path) = &self.stdin {
            // `-` is the host's standard input; any bytes (WASI stdin is bytes).
            let bytes = if path.as_os_str() == "-" {
                let mut b = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
                    .map_err(|e| (Filesystem, format!("--stdin -: {e}")))?;
                b
            } else {
                std::fs::read(path).map_err(|e| {
                    (
                        Filesystem,
                        format!("--stdin {}: cannot read: {e}", path.display()),
                    )
                })?
            };
            w.stdin = Some(bytes);
        }
        Ok(())
    }
}
