//! Go `time.Duration` text, as Eraser's and kured's configuration files and flags write it.
//!
//! Go's `time.ParseDuration` grammar: an optional sign, then one or more decimal numbers (with
//! an optional fraction), each followed by a unit among `ns`, `us` (or `µs`/`μs`), `ms`, `s`,
//! `m`, `h`. `"0"` alone is legal; days (`d`) are not. The value is a signed count of
//! nanoseconds that must fit in an `i64`, exactly like Go. Display follows Go's
//! `Duration.String()` (`24h0m0s`, `1.5s`, `300ms`) so values round-trip through
//! `kubectl describe` unchanged.
//!
//! A crate of its own so that crates which read durations but know nothing of Kubernetes (the
//! scanner core) need not depend on the wire types and, through them, on the Kubernetes crates.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration string is not in Go's `time.ParseDuration` syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The text is not a Go duration.
    #[error(
        "invalid duration {input:?}: {reason} (expected Go syntax such as \"24h\", \"1h30m\", \"90s\")"
    )]
    Duration {
        /// The text that was rejected.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
}

const NANOS_PER_MICRO: i64 = 1_000;
const NANOS_PER_MILLI: i64 = 1_000_000;
const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_MINUTE: i64 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: i64 = 60 * NANOS_PER_MINUTE;

/// Units accepted by Go, longest spellings first so `ms` wins over `m`.
const UNITS: [(&str, i64); 9] = [
    ("ns", 1),
    ("us", NANOS_PER_MICRO),
    ("\u{b5}s", NANOS_PER_MICRO),
    ("\u{3bc}s", NANOS_PER_MICRO),
    ("ms", NANOS_PER_MILLI),
    ("s", NANOS_PER_SECOND),
    ("m", NANOS_PER_MINUTE),
    ("h", NANOS_PER_HOUR),
    ("", 0),
];

/// A signed duration with nanosecond resolution, written the way Go writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration {
    nanos: i64,
}

// === impl GoDuration ===

impl GoDuration {
    /// The zero duration (`0s`).
    pub const ZERO: Self = Self { nanos: 0 };

    /// A duration of `nanos` nanoseconds.
    #[must_use]
    pub const fn from_nanos(nanos: i64) -> Self {
        Self { nanos }
    }

    /// A duration of whole seconds (saturating at the `i64` range).
    #[must_use]
    pub const fn from_secs(secs: i64) -> Self {
        Self {
            nanos: secs.saturating_mul(NANOS_PER_SECOND),
        }
    }

    /// A duration of whole hours (saturating at the `i64` range).
    #[must_use]
    pub const fn from_hours(hours: i64) -> Self {
        Self {
            nanos: hours.saturating_mul(NANOS_PER_HOUR),
        }
    }

    /// The number of nanoseconds.
    #[must_use]
    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// True when the duration is below zero.
    #[must_use]
    pub const fn is_negative(self) -> bool {
        self.nanos < 0
    }

    /// The duration as a `std::time::Duration`, or `None` when negative.
    #[must_use]
    pub fn to_std(self) -> Option<std::time::Duration> {
        u64::try_from(self.nanos)
            .ok()
            .map(std::time::Duration::from_nanos)
    }

    /// The duration as a jiff `SignedDuration`.
    #[must_use]
    pub fn to_jiff(self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_nanos(self.nanos)
    }
}

fn parse(input: &str) -> Result<i64, &'static str> {
    let (negative, mut rest) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err("empty duration");
    }
    // Accumulate in i128 so that an overflow is detected, not wrapped.
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_num) = match after_int.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                after_dot.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err("expected a number");
        }
        let unit_len = after_num
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after_num.len(), |(i, _)| i);
        let (unit, after_unit) = after_num.split_at(unit_len);
        if unit.is_empty() {
            return Err("missing unit");
        }
        let scale = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| i128::from(*scale))
            .filter(|scale| *scale > 0)
            .ok_or("unknown unit (use ns, us, ms, s, m or h)")?;
        let int_value: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse::<i128>().map_err(|_| "number too large")?
        };
        let mut value = int_value.checked_mul(scale).ok_or("duration too large")?;
        if !frac_part.is_empty() {
            // Go keeps fractions exact down to the nanosecond and drops the rest.
            let mut frac_scale = scale;
            for digit in frac_part.bytes() {
                frac_scale /= 10;
                if frac_scale == 0 {
                    break;
                }
                value += i128::from(digit - b'0') * frac_scale;
            }
        }
        total = total.checked_add(value).ok_or("duration too large")?;
        if total > i128::from(i64::MAX) + 1 {
            return Err("duration too large");
        }
        rest = after_unit;
    }
    let signed = if negative { -total } else { total };
    i64::try_from(signed).map_err(|_| "duration too large")
}

impl FromStr for GoDuration {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        parse(input)
            .map(Self::from_nanos)
            .map_err(|reason| Error::Duration {
                input: input.to_owned(),
                reason,
            })
    }
}

/// Writes `value` (< 10^digits) as a decimal fraction without trailing zeros.
fn write_fraction(out: &mut String, mut value: u64, digits: u32) {
    let mut width = digits as usize;
    while width > 0 && value.is_multiple_of(10) {
        value /= 10;
        width -= 1;
    }
    if width > 0 {
        out.push('.');
        out.push_str(&format!("{value:0width$}"));
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        if self.nanos < 0 {
            out.push('-');
        }
        let abs = self.nanos.unsigned_abs();
        if abs == 0 {
            return f.write_str("0s");
        }
        let nanos_per_second = NANOS_PER_SECOND.unsigned_abs();
        if abs < nanos_per_second {
            // Sub-second values use the largest unit that keeps an integer part, like Go.
            let (unit, per, digits) = if abs < NANOS_PER_MICRO.unsigned_abs() {
                ("ns", 1, 0)
            } else if abs < NANOS_PER_MILLI.unsigned_abs() {
                ("\u{b5}s", NANOS_PER_MICRO.unsigned_abs(), 3)
            } else {
                ("ms", NANOS_PER_MILLI.unsigned_abs(), 6)
            };
            out.push_str(&(abs / per).to_string());
            write_fraction(&mut out, abs % per, digits);
            out.push_str(unit);
            return f.write_str(&out);
        }
        let hours = abs / NANOS_PER_HOUR.unsigned_abs();
        let minutes = (abs / NANOS_PER_MINUTE.unsigned_abs()) % 60;
        let seconds = (abs / nanos_per_second) % 60;
        let sub = abs % nanos_per_second;
        if hours > 0 {
            out.push_str(&format!("{hours}h"));
        }
        if hours > 0 || minutes > 0 {
            out.push_str(&format!("{minutes}m"));
        }
        out.push_str(&seconds.to_string());
        write_fraction(&mut out, sub, 9);
        out.push('s');
        f.write_str(&out)
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for GoDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "GoDuration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A Go duration such as 24h, 1h30m or 90s."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(text: &str) -> i64 {
        text.parse::<GoDuration>().unwrap().as_nanos()
    }

    #[test]
    fn parses_go_examples() {
        assert_eq!(d("0"), 0);
        assert_eq!(d("24h"), 24 * NANOS_PER_HOUR);
        assert_eq!(d("1h30m"), 90 * NANOS_PER_MINUTE);
        assert_eq!(d("1.5h"), 90 * NANOS_PER_MINUTE);
        assert_eq!(d("300ms"), 300 * NANOS_PER_MILLI);
        assert_eq!(d("-1.5h"), -90 * NANOS_PER_MINUTE);
        assert_eq!(d("2h45m"), 165 * NANOS_PER_MINUTE);
        assert_eq!(d("1\u{b5}s"), 1_000);
        assert_eq!(d("1us"), 1_000);
        assert_eq!(d(".5s"), 500 * NANOS_PER_MILLI);
        assert_eq!(d("1.s"), NANOS_PER_SECOND);
        assert_eq!(d("0s"), 0);
        assert_eq!(d("9223372036854775807ns"), i64::MAX);
        assert_eq!(d("-9223372036854775808ns"), i64::MIN);
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in [
            "",
            "-",
            "1",
            "1d",
            "h",
            "1hh",
            ".s",
            "1.2.3s",
            " 1h",
            "1h ",
            "9223372036854775808ns",
            "3000000h",
        ] {
            let err = bad.parse::<GoDuration>().unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{bad:?} gave {err}");
        }
    }

    #[test]
    fn displays_like_go() {
        for (nanos, text) in [
            (0, "0s"),
            (24 * NANOS_PER_HOUR, "24h0m0s"),
            (90 * NANOS_PER_MINUTE, "1h30m0s"),
            (1_500 * NANOS_PER_MILLI, "1.5s"),
            (300 * NANOS_PER_MILLI, "300ms"),
            (1_500, "1.5\u{b5}s"),
            (12, "12ns"),
            (-NANOS_PER_MINUTE, "-1m0s"),
        ] {
            assert_eq!(GoDuration::from_nanos(nanos).to_string(), text);
        }
    }

    proptest! {
        #[test]
        fn display_round_trips(nanos in any::<i64>()) {
            let value = GoDuration::from_nanos(nanos);
            prop_assert_eq!(value.to_string().parse::<GoDuration>().unwrap(), value);
        }

        #[test]
        fn never_panics_on_garbage(text in "\\PC{0,24}") {
            let _ = text.parse::<GoDuration>();
        }
    }
}
