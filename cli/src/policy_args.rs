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
}

impl PolicyArgs {
    /// Builds and validates the policy.
    pub(crate) fn policy(&self) -> Result<Policy, PolicyError> {
        Ok(self.layers()?.2)
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
    /// Lays the directories, variables and stdin over the policy.
    pub(crate) fn apply(&self, policy: &mut Policy) -> Result<(), String> {
        let w = &mut policy.wasi;
        for (spec, mode) in self
            .dirs
            .iter()
            .map(|d| (d, DirMode::Rw))
            .chain(self.dirs_ro.iter().map(|d| (d, DirMode::Ro)))
        {
            let (host, guest) = spec
                .split_once("::")
                .ok_or_else(|| format!("--dir `{spec}`: expected HOST::GUEST"))?;
            w.dirs.push(Dir::new(host, guest, mode));
        }
        for kv in &self.envs {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("--env `{kv}`: expected K=V"))?;
            w.env.insert(k.to_owned(), v.to_owned());
        }
        if let Some(path) = &self.stdin {
            // `-` is the host's standard input; any bytes (WASI stdin is bytes).
            let bytes = if path.as_os_str() == "-" {
                let mut b = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
                    .map_err(|e| format!("--stdin -: {e}"))?;
                b
            } else {
                std::fs::read(path).map_err(|e| format!("--stdin {}: {e}", path.display()))?
            };
            w.stdin = Some(bytes);
        }
        Ok(())
    }
}
