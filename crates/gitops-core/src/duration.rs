//! Human-friendly durations used in `gitops.yaml` (`12h`, `7d`, `2w`, `30m`, `45s`).

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative span of time written as an integer and a unit: `s`, `m`, `h`, `d` or `w`.
///
/// ```
/// use gitops_core::duration::HumanDuration;
/// let d: HumanDuration = "7d".parse().unwrap();
/// assert_eq!(d.as_seconds(), 7 * 86_400);
/// assert_eq!(d.to_string(), "7d");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration {
    seconds: i64,
}

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration '{input}': {reason}; write a whole number and a unit, e.g. 12h, 7d or 2w"
)]
pub struct DurationError {
    /// The text that was given.
    pub input: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

const UNITS: [(char, i64); 5] = [
    ('w', 604_800),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];

impl HumanDuration {
    /// A duration of exactly `seconds` seconds (negative values are clamped to zero).
    pub const fn from_seconds(seconds: i64) -> Self {
        Self {
            seconds: if seconds < 0 { 0 } else { seconds },
        }
    }

    /// A duration of `days` days.
    pub const fn days(days: i64) -> Self {
        Self::from_seconds(days * 86_400)
    }

    /// Length in seconds.
    pub const fn as_seconds(self) -> i64 {
        self.seconds
    }

    /// The same span as a [`chrono::TimeDelta`].
    pub fn as_chrono(self) -> chrono::TimeDelta {
        chrono::TimeDelta::seconds(self.seconds)
    }

    /// Formats any span (for example an age) in the largest unit that divides it, rounding down
    /// to whole days past one day so that reasons read `9d > 7d`.
    pub fn display_age(delta: chrono::TimeDelta) -> String {
        let s = delta.num_seconds().max(0);
        if s >= 86_400 {
            format!("{}d", s / 86_400)
        } else if s >= 3_600 {
            format!("{}h", s / 3_600)
        } else if s >= 60 {
            format!("{}m", s / 60)
        } else {
            format!("{s}s")
        }
    }
}

impl FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| DurationError {
            input: input.to_owned(),
            reason,
        };
        let text = input.trim();
        let unit = text.chars().last().ok_or_else(|| err("it is empty"))?;
        let Some(&(_, factor)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(err("the unit must be one of s, m, h, d, w"));
        };
        let number = &text[..text.len() - unit.len_utf8()];
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("the amount must be a whole non-negative number"));
        }
        let n: i64 = number.parse().map_err(|_| err("the amount is too large"))?;
        let seconds = n
            .checked_mul(factor)
            .ok_or_else(|| err("the amount is too large"))?;
        Ok(Self { seconds })
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.seconds == 0 {
            return f.write_str("0s");
        }
        // Weeks are read but never written: `7d` and `14d` read better in reasons than `1w`.
        for (unit, factor) in &UNITS[1..] {
            if self.seconds % factor == 0 {
                return write!(f, "{}{unit}", self.seconds / factor);
            }
        }
        write!(f, "{}s", self.seconds)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]+[smhdw]$",
            "description": "A whole number followed by a unit: s, m, h, d or w (e.g. 12h, 7d, 2w).",
            "examples": ["12h", "7d", "2w"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        for (text, secs) in [
            ("45s", 45),
            ("30m", 1800),
            ("12h", 43_200),
            ("7d", 604_800),
            ("2w", 1_209_600),
        ] {
            assert_eq!(
                text.parse::<HumanDuration>().map(HumanDuration::as_seconds),
                Ok(secs),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_bad_input() {
        for text in [
            "",
            "7",
            "d",
            "-1d",
            "1.5d",
            "7y",
            "99999999999999999999w",
            " d",
        ] {
            assert!(
                text.parse::<HumanDuration>().is_err(),
                "{text:?} should fail"
            );
        }
    }

    #[test]
    fn displays_in_largest_unit() {
        assert_eq!(HumanDuration::days(14).to_string(), "14d");
        assert_eq!(HumanDuration::days(30).to_string(), "30d");
        assert_eq!(HumanDuration::from_seconds(90).to_string(), "90s");
        assert_eq!(
            HumanDuration::display_age(chrono::TimeDelta::hours(9 * 24 + 5)),
            "9d"
        );
    }
}
