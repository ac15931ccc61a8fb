//! DORA performance bands: which tier (elite, high, medium, low) a measured value falls in.
//!
//! The published bands change between reports and are not monotonic (the 2024 change failure
//! rates are elite 5%, high 20%, medium 10%, low 40%), so each metric is classified on its own
//! and the bands are data: [`DoraBands::dora_2024`] (the default), [`DoraBands::dora_2023`], or
//! a YAML file of the same shape.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;

/// A DORA performance tier, best first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Elite performers.
    Elite,
    /// High performers.
    High,
    /// Medium performers.
    Medium,
    /// Low performers.
    Low,
}

impl Tier {
    /// Every tier, best first.
    pub const ALL: [Tier; 4] = [Tier::Elite, Tier::High, Tier::Medium, Tier::Low];

    /// Lower-case name (`elite`).
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Elite => "elite",
            Tier::High => "high",
            Tier::Medium => "medium",
            Tier::Low => "low",
        }
    }

    /// A number for dashboards: elite 4, high 3, medium 2, low 1.
    pub fn score(self) -> u8 {
        match self {
            Tier::Elite => 4,
            Tier::High => 3,
            Tier::Medium => 2,
            Tier::Low => 1,
        }
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How often deployments happen, as the Four Keys project classifies it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum FrequencyClass {
    /// The median week has 3 or more days with a deployment.
    Daily,
    /// The median week has at least one day with a deployment.
    Weekly,
    /// The median month has at least one deployment.
    Monthly,
    /// Less often than monthly (but at least one deployment in the window).
    Yearly,
}

impl FrequencyClass {
    /// Lower-case name (`daily`).
    pub fn as_str(self) -> &'static str {
        match self {
            FrequencyClass::Daily => "daily",
            FrequencyClass::Weekly => "weekly",
            FrequencyClass::Monthly => "monthly",
            FrequencyClass::Yearly => "yearly",
        }
    }
}

impl std::fmt::Display for FrequencyClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Deployment-frequency bands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FrequencyBands {
    /// Elite ("on demand, several a day"): the class is daily and days with a deployment see
    /// at least this many deployments on average. Default: 2.
    pub elite_min_per_deploy_day: f64,
    /// Slowest class still rated high ("daily to weekly"). Default: weekly.
    pub high_at_least: FrequencyClass,
    /// Slowest class still rated medium ("weekly to monthly"). Default: monthly.
    pub medium_at_least: FrequencyClass,
}

/// Bands for a duration (lead time, time to restore): a tier applies when the median is
/// strictly below its bound; the best matching tier wins, anything slower is low.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DurationBands {
    /// Elite when below this.
    pub elite_below: HumanDuration,
    /// High when below this.
    pub high_below: HumanDuration,
    /// Medium when below this.
    pub medium_below: HumanDuration,
}

/// Change-failure-rate bands: the percentages DORA publishes for each cluster. A rate is
/// given the tier whose published percentage is nearest (ties go to the better tier), which
/// keeps every tier reachable even though the 2024 values are not monotonic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateBands {
    /// Elite cluster's change failure rate, in percent.
    pub elite_percent: f64,
    /// High cluster's change failure rate, in percent.
    pub high_percent: f64,
    /// Medium cluster's change failure rate, in percent.
    pub medium_percent: f64,
    /// Low cluster's change failure rate, in percent.
    pub low_percent: f64,
}

/// The bands of one DORA report (or a team's own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DoraBands {
    /// Where the bands come from, cited in every output (e.g. `DORA 2024`).
    pub source: String,
    /// Year of the report the bands come from.
    pub year: u16,
    /// Deployment frequency.
    pub deployment_frequency: FrequencyBands,
    /// Lead time for changes.
    pub lead_time: DurationBands,
    /// Change failure rate.
    pub change_failure_rate: RateBands,
    /// Time to restore (failed deployment recovery time).
    pub time_to_restore: DurationBands,
}

impl Default for DoraBands {
    fn default() -> Self {
        Self::dora_2024()
    }
}

/// Why a bands file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BandsError {
    /// The YAML does not match the bands shape.
    #[error("{origin}: invalid DORA bands: {source}; see `docs/metrics.md` for the expected keys")]
    Parse {
        /// Where the text came from.
        origin: String,
        /// The parser's error (with line and column).
        #[source]
        source: serde_norway::Error,
    },
    /// A report year with no built-in bands.
    #[error("no built-in DORA bands for {year}; use 2023 or 2024, or give a bands file")]
    UnknownYear {
        /// The year asked for.
        year: u16,
    },
}

impl DoraBands {
    /// The bands of the 2024 Accelerate State of DevOps report.
    pub fn dora_2024() -> Self {
        Self {
            source: "DORA 2024".to_owned(),
            year: 2024,
            deployment_frequency: FrequencyBands {
                elite_min_per_deploy_day: 2.0,
                high_at_least: FrequencyClass::Weekly,
                medium_at_least: FrequencyClass::Monthly,
            },
            lead_time: DurationBands {
                elite_below: HumanDuration::days(1),
                high_below: HumanDuration::days(7),
                medium_below: HumanDuration::days(30),
            },
            change_failure_rate: RateBands {
                elite_percent: 5.0,
                high_percent: 20.0,
                medium_percent: 10.0,
                low_percent: 40.0,
            },
            time_to_restore: DurationBands {
                elite_below: HumanDuration::from_seconds(3_600),
                high_below: HumanDuration::days(1),
                medium_below: HumanDuration::days(1),
            },
        }
    }

    /// The bands of the 2023 Accelerate State of DevOps report.
    pub fn dora_2023() -> Self {
        let mut bands = Self::dora_2024();
        bands.source = "DORA 2023".to_owned();
        bands.year = 2023;
        bands.change_failure_rate = RateBands {
            elite_percent: 5.0,
            high_percent: 10.0,
            medium_percent: 15.0,
            low_percent: 64.0,
        };
        bands.time_to_restore.medium_below = HumanDuration::days(7);
        bands
    }

    /// The built-in bands of a report year (2023 or 2024).
    pub fn for_year(year: u16) -> Result<Self, BandsError> {
        match year {
            2024 => Ok(Self::dora_2024()),
            2023 => Ok(Self::dora_2023()),
            _ => Err(BandsError::UnknownYear { year }),
        }
    }

    /// Parses bands from YAML (the shape `serde` gives [`DoraBands`]); `origin` names the text.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Self, BandsError> {
        serde_norway::from_str(text).map_err(|source| BandsError::Parse {
            origin: origin.to_owned(),
            source,
        })
    }

    /// Tier of a deployment frequency: its class and the mean deployments per day that had one.
    pub fn classify_frequency(&self, class: FrequencyClass, per_deploy_day: f64) -> Tier {
        let bands = &self.deployment_frequency;
        if class == FrequencyClass::Daily && per_deploy_day >= bands.elite_min_per_deploy_day {
            Tier::Elite
        } else if class <= bands.high_at_least {
            Tier::High
        } else if class <= bands.medium_at_least {
            Tier::Medium
        } else {
            Tier::Low
        }
    }

    /// Tier of a median lead time in seconds.
    pub fn classify_lead_time(&self, seconds: f64) -> Tier {
        classify_duration(&self.lead_time, seconds)
    }

    /// Tier of a median time to restore in seconds.
    pub fn classify_time_to_restore(&self, seconds: f64) -> Tier {
        classify_duration(&self.time_to_restore, seconds)
    }

    /// Tier of a change failure rate given as a fraction (0.0 - 1.0).
    pub fn classify_change_failure_rate(&self, rate: f64) -> Tier {
        let percent = rate * 100.0;
        let bands = &self.change_failure_rate;
        let mut best = (Tier::Elite, (percent - bands.elite_percent).abs());
        for (tier, value) in [
            (Tier::High, bands.high_percent),
            (Tier::Medium, bands.medium_percent),
            (Tier::Low, bands.low_percent),
        ] {
            let distance = (percent - value).abs();
            if distance < best.1 {
                best = (tier, distance);
            }
        }
        best.0
    }
}

fn classify_duration(bands: &DurationBands, seconds: f64) -> Tier {
    for (tier, bound) in [
        (Tier::Elite, bands.elite_below),
        (Tier::High, bands.high_below),
        (Tier::Medium, bands.medium_below),
    ] {
        #[allow(clippy::cast_precision_loss)]
        if seconds < bound.as_seconds() as f64 {
            return tier;
        }
    }
    Tier::Low
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_failure_rate_2024_reaches_every_tier() {
        let bands = DoraBands::dora_2024();
        assert_eq!(bands.classify_change_failure_rate(0.0), Tier::Elite);
        assert_eq!(bands.classify_change_failure_rate(0.09), Tier::Medium);
        assert_eq!(bands.classify_change_failure_rate(0.21), Tier::High);
        assert_eq!(bands.classify_change_failure_rate(0.5), Tier::Low);
    }

    #[test]
    fn restore_between_a_day_and_a_week_is_low_in_2024_but_medium_in_2023() {
        let three_days = 3.0 * 86_400.0;
        assert_eq!(
            DoraBands::dora_2024().classify_time_to_restore(three_days),
            Tier::Low
        );
        assert_eq!(
            DoraBands::dora_2023().classify_time_to_restore(three_days),
            Tier::Medium
        );
    }

    #[test]
    fn frequency_tiers() {
        let bands = DoraBands::dora_2024();
        assert_eq!(
            bands.classify_frequency(FrequencyClass::Daily, 3.0),
            Tier::Elite
        );
        assert_eq!(
            bands.classify_frequency(FrequencyClass::Daily, 1.0),
            Tier::High
        );
        assert_eq!(
            bands.classify_frequency(FrequencyClass::Monthly, 1.0),
            Tier::Medium
        );
        assert_eq!(
            bands.classify_frequency(FrequencyClass::Yearly, 1.0),
            Tier::Low
        );
    }

    #[test]
    fn bands_round_trip_through_yaml() {
        let bands = DoraBands::dora_2023();
        let text = serde_norway::to_string(&bands).unwrap_or_default();
        let back = DoraBands::from_yaml_str(&text, "test").ok();
        assert_eq!(back, Some(bands));
    }
}
