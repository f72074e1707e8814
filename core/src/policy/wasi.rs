//! The `[wasi]` section: what a WASI preview 1 guest may see and touch.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// WASI capabilities. Everything is denied unless granted here: no host environment, no host
/// directories, no network (never grantable), stdio captured in memory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Wasi {
    /// `argv` as the guest sees it, `argv[0]` included. By default empty.
    #[serde(default)]
    pub args: Vec<String>,
    /// The guest's environment: only these variables. The host environment is never inherited.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Bytes the guest reads on stdin (any bytes; a policy file gives them as text). By default
    /// stdin is empty (reads return end of file).
    #[serde(default, with = "stdin_bytes")]
    pub stdin: Option<Vec<u8>>,
    /// Pass the host's stdio through instead of capturing it (CLI only, for interactive use).
    /// By default `false`: output is captured, bounded by `limits.max_output`.
    #[serde(default)]
    pub inherit_stdio: bool,
    /// What `clock_time_get` reports. By default the real clocks.
    #[serde(default)]
    pub clock: Clock,
    /// Where `random_get` bytes come from. By default the OS generator.
    #[serde(default)]
    pub random: Random,
    /// Host directories the guest may open, each at a guest path, read-only or read-write.
    #[serde(default)]
    pub dirs: Vec<Dir>,
}

/// Clock source for WASI guests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Clock {
    /// The host's real clocks.
    #[default]
    Real,
    /// A fixed instant: every clock reads the same value on every runtime (determinism).
    Frozen,
}

/// Random source for WASI guests: `"os"` or `{ seed = 42 }` in TOML.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RandomRepr", into = "RandomRepr")]
#[non_exhaustive]
pub enum Random {
    /// The operating system's generator.
    #[default]
    Os,
    /// A deterministic generator: the same bytes on every runtime.
    Seeded {
        /// The seed.
        seed: u64,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum RandomRepr {
    Word(String),
    Seeded { seed: u64 },
}

impl TryFrom<RandomRepr> for Random {
    type Error = String;
    fn try_from(r: RandomRepr) -> Result<Self, String> {
        match r {
            RandomRepr::Word(w) if w == "os" => Ok(Random::Os),
            RandomRepr::Word(w) => Err(format!(
                "unknown random source `{w}`: expected \"os\" or {{ seed = N }}"
            )),
            RandomRepr::Seeded { seed } => Ok(Random::Seeded { seed }),
        }
    }
}

impl From<Random> for RandomRepr {
    fn from(r: Random) -> Self {
        match r {
            Random::Os => RandomRepr::Word("os".into()),
            Random::Seeded { seed } => RandomRepr::Seeded { seed },
        }
    }
}

/// A preopened host directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Dir {
    /// Host path; relative paths are resolved against the policy file's directory.
    pub host: PathBuf,
    /// The path the guest opens it at: absolute (`/data`), or `.`, the guest's working
    /// directory (what `wasmtime run --dir HOST::.` and Sightglass grant, and where
    /// wasi-libc resolves relative paths such as `./input.txt`). Anything else is refused by
    /// [`crate::Policy::validate`].
    pub guest: String,
    /// Read-only or read-write. By default read-only.
    #[serde(default)]
    pub mode: DirMode,
}

impl Dir {
    /// The host directory `host`, seen by the guest at `guest` (absolute, or `.` for the
    /// guest's working directory), read-only or read-write.
    pub fn new(host: impl Into<PathBuf>, guest: impl Into<String>, mode: DirMode) -> Self {
        Dir {
            host: host.into(),
            guest: guest.into(),
            mode,
        }
    }
}

/// Access mode of a preopened directory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DirMode {
    /// Read-only: no write, create, truncate, rename or unlink, by any path.
    #[default]
    Ro,
    /// Read-write.
    Rw,
}

/// `stdin` as text in policy files: bytes that are UTF-8 serialise as a string, others as an
/// array of numbers; both deserialise.
mod stdin_bytes {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Text(String),
        Bytes(Vec<u8>),
    }

    pub(super) fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(b) => match std::str::from_utf8(b) {
                Ok(text) => text.serialize(s),
                Err(_) => b.serialize(s),
            },
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<Repr>::deserialize(d)?.map(|r| match r {
            Repr::Text(t) => t.into_bytes(),
            Repr::Bytes(b) => b,
        }))
    }
}
