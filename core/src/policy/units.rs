//! Human-friendly sizes (`65536`, `"64 MiB"`) and durations (`"500ms"`, `"2s"`) for policy files.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A number of bytes. In TOML either an integer (`65536`) or a string with a unit
/// (`"64 MiB"`, `"512 KiB"`, `"1.5 GB"`), the space optional and the unit's case ignored.
///
/// Units: `KiB`, `MiB`, `GiB`, `TiB` (also `Ki`, `Mi`, …) are powers of 1024: 1 KiB = 1024
/// bytes. `KB`, `MB`, `GB`, `TB` (also `K`, `M`, `G`, `T`) are powers of 1000: 1 KB = 1000
/// bytes, so `"64 MB"` is 64 000 000 bytes, about 61 MiB. `B` is bytes. Cage always writes
/// sizes back in binary units (`"64 MiB"`), or in bytes (`"1000 B"`) when no binary unit
/// divides them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Size(pub u64);

impl Size {
    /// `n` kibibytes.
    pub const fn kib(n: u64) -> Self {
        Size(n * 1024)
    }
    /// `n` mebibytes.
    pub const fn mib(n: u64) -> Self {
        Size(n * 1024 * 1024)
    }
    /// `n` gibibytes.
    pub const fn gib(n: u64) -> Self {
        Size(n * 1024 * 1024 * 1024)
    }
    /// The number of bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }
}

impl std::str::FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Ok(n) = t.replace('_', "").parse::<u64>() {
            return Ok(Size(n));
        }
        // The parser's own wording ("cannot parse float from empty string") helps nobody.
        t.parse::<bytesize::ByteSize>()
            .ok()
            .filter(|_| !t.starts_with('-'))
            .map(|b| Size(b.as_u64()))
            .ok_or_else(|| {
                format!(
                    "invalid size `{s}`: expected a number of bytes (65536) or a number and a \
                     unit (512 KiB, 64 MiB, 4 GiB: powers of 1024; KB, MB, GB: powers of 1000)"
                )
            })
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
        for (unit, scale) in UNITS {
            if self.0 >= scale && self.0.is_multiple_of(scale) {
                return write!(f, "{} {unit}", self.0 / scale);
            }
        }
        write!(f, "{} B", self.0)
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size: a number of bytes or a string such as \"64 MiB\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v)
                    .map(Size)
                    .map_err(|_| E::custom(format!("size must not be negative, got {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Size, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses a duration such as `"500ms"`, `"2s"` or `"1m 30s"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|_| {
        format!("invalid duration `{s}`: expected a number and a unit, e.g. 500ms, 2s, 1m")
    })
}

/// Formats a duration the way [`parse_duration`] reads it.
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// A value that may be switched off: `"none"` (or `"unlimited"`) in TOML.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit<T> {
    /// The limit is off.
    Off,
    /// The limit is on with this value.
    On(T),
}

impl<T> Limit<T> {
    /// The value as an `Option`.
    pub fn into_option(self) -> Option<T> {
        match self {
            Limit::Off => None,
            Limit::On(v) => Some(v),
        }
    }
}

fn is_off_word(s: &str) -> bool {
    matches!(s.trim(), "none" | "unlimited" | "off")
}

/// Fuel in TOML: an integer, or `"none"`.
pub(crate) fn de_fuel<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Limit<u64>>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Limit<u64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an amount of fuel (a non-negative integer) or \"none\"")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Limit::On(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u64::try_from(v)
                .map(Limit::On)
                .map_err(|_| E::custom(format!("fuel must not be negative, got {v}")))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if is_off_word(v) {
                Ok(Limit::Off)
            } else {
                v.replace('_', "").parse().map(Limit::On).map_err(|_| {
                    E::custom(format!(
                        "invalid fuel `{v}`: expected an integer or \"none\""
                    ))
                })
            }
        }
    }
    d.deserialize_any(V).map(Some)
}

/// A timeout in TOML: a duration string, or `"none"`.
pub(crate) fn de_timeout<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Limit<Duration>>, D::Error> {
    let s = String::deserialize(d)?;
    if is_off_word(&s) {
        Ok(Some(Limit::Off))
    } else {
        parse_duration(&s)
            .map(|d| Some(Limit::On(d)))
            .map_err(de::Error::custom)
    }
}

/// A duration in TOML: a duration string such as `"1ms"`.
pub(crate) fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map(Some).map_err(de::Error::custom)
}

pub(crate) fn ser_duration<S: Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*v))
}

pub(crate) fn ser_fuel<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(n) => s.serialize_u64(*n),
        None => s.serialize_str("none"),
    }
}

pub(crate) fn ser_timeout<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(d) => s.serialize_str(&format_duration(*d)),
        None => s.serialize_str("none"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_numbers_and_units() {
        assert_eq!("65536".parse::<Size>().unwrap(), Size(65536));
        assert_eq!("64 MiB".parse::<Size>().unwrap(), Size::mib(64));
        assert_eq!("512 KiB".parse::<Size>().unwrap(), Size::kib(512));
        assert_eq!("1_000".parse::<Size>().unwrap(), Size(1000));
        assert!("lots".parse::<Size>().is_err());
        assert!("-5".parse::<Size>().is_err());
        assert_eq!(Size::mib(64).to_string(), "64 MiB");
        assert_eq!(Size(1000).to_string(), "1000 B");
    }

    #[test]
    fn decimal_units_are_powers_of_1000_and_binary_units_of_1024() {
        for (text, bytes) in [
            ("1 KB", 1_000),
            ("1 KiB", 1_024),
            ("64 MB", 64_000_000),
            ("64 MiB", 64 << 20),
            ("64MB", 64_000_000),
            ("64 mb", 64_000_000),
            ("64M", 64_000_000),
            ("64Mi", 64 << 20),
            ("2 GB", 2_000_000_000),
            ("2 GiB", 2 << 30),
            ("1.5 KiB", 1_536),
            ("10 B", 10),
        ] {
            assert_eq!(text.parse::<Size>().unwrap(), Size(bytes), "{text}");
        }
        assert!(
            "64 MiBs"
                .parse::<Size>()
                .unwrap_err()
                .contains("powers of 1000")
        );
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("soon").is_err());
        assert_eq!(
            parse_duration(&format_duration(Duration::from_millis(1500))).unwrap(),
            Duration::from_millis(1500)
        );
    }
}
