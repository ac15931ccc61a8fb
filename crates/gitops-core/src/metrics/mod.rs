//! DORA's four keys computed from the deploy ledger: deployment frequency, lead time for
//! changes, change failure rate and time to restore, each classified against configurable
//! DORA bands, plus renderers for a table, Prometheus text exposition and an HTML report.
//!
//! Pure: the caller passes the deploy events and `now`; nothing here reads git, the network or
//! the clock.
//!
//! Definitions (Four Keys, see `docs/metrics.md`):
//! - a *deployment* is a successful deploy or hotfix in the window; rollbacks are remediation
//!   and are counted on their own, not as deployments;
//! - a deployment *failed* when a later rollback names it (`rollback_of`, or, without one, the
//!   rollback follows it directly), when the next change after it is a hotfix, or when the
//!   deployment itself did not succeed;
//! - it is *restored* by the next successful event (deploy, hotfix or rollback) after it.
//!
//! Weeks start on Monday 00:00 UTC and months on the 1st, 00:00 UTC: all times are UTC, so
//! daylight-saving changes never move a deployment into another bucket.

mod bands;
mod html;
mod prometheus;
mod svg;
mod table;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::ledger::LedgerEntry;

pub use crate::ledger::DeployKind;
pub use bands::{
    BandsError, DoraBands, DurationBands, FrequencyBands, FrequencyClass, RateBands, Tier,
};
pub use html::render_html;
pub use prometheus::render_prometheus;
pub use table::render_table;

/// One entry of the deploy ledger, as the metrics need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployEvent {
    /// Identifier of the deployment (the deploy commit's sha, or a GitHub deployment id).
    pub id: String,
    /// When it was deployed.
    pub time: DateTime<Utc>,
    /// Environment deployed to.
    pub environment: String,
    /// Deploy, rollback or hotfix.
    pub kind: DeployKind,
    /// The source commit deployed, when known.
    pub source_commit: Option<String>,
    /// When that source commit was made (author or commit time), when known.
    pub source_commit_time: Option<DateTime<Utc>>,
    /// For a rollback: the id (or an unambiguous prefix of it) of the deployment rolled back.
    pub rollback_of: Option<String>,
    /// Whether the deployment succeeded (a ledger commit always did; a GitHub deployment may
    /// have failed).
    pub success: bool,
}

impl DeployEvent {
    /// The metrics' view of a ledger entry; `source_commit_time` is looked up by the caller
    /// (the source commit may live in another repository). Ledger commits always succeeded.
    pub fn from_ledger(entry: &LedgerEntry, source_commit_time: Option<DateTime<Utc>>) -> Self {
        Self {
            id: entry.commit.clone(),
            time: entry.time,
            environment: entry.environment.clone(),
            kind: entry.kind,
            source_commit: entry.source_commit.clone(),
            source_commit_time,
            rollback_of: entry.rollback_of.clone(),
            success: true,
        }
    }
}

/// What to compute.
#[derive(Debug, Clone)]
pub struct MetricsOptions {
    /// End of the window (the caller's clock).
    pub now: DateTime<Utc>,
    /// Length of the window ending at `now`.
    pub window: Duration,
    /// Only this environment (reported even when it has no deployments).
    pub environment: Option<String>,
    /// Order environments appear in (the policy's promotion order); others follow by name.
    pub environment_order: Vec<String>,
    /// The bands each metric is classified against.
    pub bands: DoraBands,
}

/// The four keys for every environment over one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsReport {
    /// When the report was made (`now`).
    pub generated_at: DateTime<Utc>,
    /// The window measured.
    pub window: Window,
    /// Which bands classified the metrics (cite this when showing a tier).
    pub bands: BandsCitation,
    /// One entry per environment.
    pub environments: Vec<EnvironmentMetrics>,
}

/// The time window measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    /// Start (inclusive).
    pub start: DateTime<Utc>,
    /// End (inclusive): `now`.
    pub end: DateTime<Utc>,
    /// Length in days (may be fractional).
    pub days: f64,
}

/// The source of the bands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BandsCitation {
    /// e.g. `DORA 2024`.
    pub source: String,
    /// The report year.
    pub year: u16,
}

/// The four keys of one environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvironmentMetrics {
    /// Environment name.
    pub environment: String,
    /// Deployment frequency.
    pub deployment_frequency: DeploymentFrequency,
    /// Lead time for changes.
    pub lead_time: LeadTime,
    /// Change failure rate.
    pub change_failure_rate: ChangeFailureRate,
    /// Time to restore (failed deployment recovery time).
    pub time_to_restore: TimeToRestore,
    /// Rollbacks in the window.
    pub rollbacks: u64,
    /// Hotfixes in the window.
    pub hotfixes: u64,
    /// Deployments per week (Monday 00:00 UTC), every week touching the window.
    pub weeks: Vec<WeekBucket>,
    /// Failed deployments in the window and their recovery.
    pub incidents: Vec<Incident>,
    /// Every event in the window, oldest first (for the timeline).
    pub timeline: Vec<TimelineEvent>,
}

/// One ledger event on the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEvent {
    /// Its id (deploy commit sha).
    pub id: String,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// Deploy, rollback or hotfix.
    pub kind: DeployKind,
    /// Whether it succeeded.
    pub success: bool,
    /// Whether it counts as a failed deployment.
    pub failed: bool,
}

/// Deployment frequency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentFrequency {
    /// Successful deployments (deploys and hotfixes) in the window.
    pub deployments: u64,
    /// Distinct UTC days with a deployment.
    pub deploy_days: u64,
    /// Deployments per week, averaged over the window.
    pub per_week: f64,
    /// Median over the weeks of the days with a deployment.
    pub median_deploy_days_per_week: f64,
    /// Daily, weekly, monthly or yearly; `null` without deployments.
    pub class: Option<FrequencyClass>,
    /// DORA tier; `null` without deployments.
    pub tier: Option<Tier>,
}

/// Lead time for changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadTime {
    /// Deployed source commits with a known commit time and a positive lead time.
    pub samples: u64,
    /// Median lead time in seconds.
    pub median_seconds: Option<f64>,
    /// 90th percentile in seconds.
    pub p90_seconds: Option<f64>,
    /// DORA tier of the median.
    pub tier: Option<Tier>,
    /// Distribution of the samples.
    pub histogram: Vec<HistogramBucket>,
}

/// One bar of the lead-time histogram.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistogramBucket {
    /// Label such as `1-4h`.
    pub label: String,
    /// Upper bound in seconds (exclusive); `null` for the last bucket.
    pub below_seconds: Option<i64>,
    /// Samples in the bucket.
    pub count: u64,
}

/// Change failure rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeFailureRate {
    /// Deployments attempted in the window (successful or not).
    pub deployments: u64,
    /// Of those, deployments that failed.
    pub failures: u64,
    /// `failures / deployments`, 0.0 - 1.0; `null` without deployments.
    pub rate: Option<f64>,
    /// DORA tier.
    pub tier: Option<Tier>,
}

/// Time to restore.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeToRestore {
    /// Failures that were restored.
    pub restored: u64,
    /// Failures not yet restored at `now`.
    pub open: u64,
    /// Median of (restored - failed) in seconds.
    pub median_seconds: Option<f64>,
    /// DORA tier of the median.
    pub tier: Option<Tier>,
}

/// Deployments in one week.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekBucket {
    /// Monday of the week (UTC).
    pub week_start: NaiveDate,
    /// Successful deployments.
    pub deployments: u64,
    /// Distinct days with a deployment.
    pub deploy_days: u64,
    /// Deployments that failed.
    pub failures: u64,
}

/// Why a deployment counts as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureCause {
    /// A later rollback undid it.
    Rollback,
    /// A hotfix followed it.
    Hotfix,
    /// The deployment itself did not succeed.
    DeployFailed,
}

impl FailureCause {
    /// Kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCause::Rollback => "rollback",
            FailureCause::Hotfix => "hotfix",
            FailureCause::DeployFailed => "deploy-failed",
        }
    }
}

/// A failed deployment and its recovery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    /// The failed deployment's id.
    pub deployment: String,
    /// Why it counts as failed.
    pub cause: FailureCause,
    /// When the failed deployment went out.
    pub failed_at: DateTime<Utc>,
    /// The next successful deployment after it, if any yet.
    pub restored_at: Option<DateTime<Utc>>,
    /// Its id.
    pub restored_by: Option<String>,
    /// `restored_at - failed_at` in seconds.
    pub seconds: Option<i64>,
}

/// Lead-time histogram buckets: upper bounds in seconds and labels.
const HISTOGRAM: [(Option<i64>, &str); 7] = [
    (Some(3_600), "< 1h"),
    (Some(4 * 3_600), "1-4h"),
    (Some(86_400), "4-24h"),
    (Some(3 * 86_400), "1-3d"),
    (Some(7 * 86_400), "3-7d"),
    (Some(30 * 86_400), "1-4w"),
    (None, "> 30d"),
];

/// Longest window measured (100 years); longer windows are shortened to it.
pub fn max_window() -> Duration {
    Duration::days(36_525)
}

/// Computes the four keys for every environment from the deploy events.
pub fn compute(events: &[DeployEvent], options: &MetricsOptions) -> MetricsReport {
    let end = options.now;
    let window = options.window.clamp(Duration::zero(), max_window());
    let start = end.checked_sub_signed(window).unwrap_or(end);
    let mut names: BTreeSet<&str> = BTreeSet::new();
    match &options.environment {
        Some(env) => {
            names.insert(env.as_str());
        }
        None => names.extend(events.iter().map(|e| e.environment.as_str())),
    }
    let mut ordered: Vec<&str> = options
        .environment_order
        .iter()
        .map(String::as_str)
        .filter(|name| names.contains(name))
        .collect();
    let rest: Vec<&str> = names
        .iter()
        .filter(|n| !ordered.contains(n))
        .copied()
        .collect();
    ordered.extend(rest);
    let environments = ordered
        .into_iter()
        .map(|name| {
            let mut env_events: Vec<&DeployEvent> = events
                .iter()
                .filter(|e| e.environment == name && e.time <= end)
                .collect();
            env_events.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
            environment_metrics(name, &env_events, start, end, &options.bands)
        })
        .collect();
    #[allow(clippy::cast_precision_loss)]
    let days = (end - start).num_seconds() as f64 / 86_400.0;
    MetricsReport {
        generated_at: end,
        window: Window { start, end, days },
        bands: BandsCitation {
            source: options.bands.source.clone(),
            year: options.bands.year,
        },
        environments,
    }
}

fn is_change(event: &DeployEvent) -> bool {
    event.kind != DeployKind::Rollback
}

/// Index of the deployment a rollback at `index` undoes.
fn rollback_target(events: &[&DeployEvent], index: usize) -> Option<usize> {
    let event = events[index];
    if let Some(target) = event.rollback_of.as_deref().filter(|t| !t.is_empty()) {
        let found = (0..index).rev().find(|&i| {
            is_change(events[i]) && (events[i].id == target || events[i].id.starts_with(target))
        });
        if found.is_some() {
            return found;
        }
    }
    // Without a usable reference, a rollback undoes the change running before it.
    (0..index)
        .rev()
        .find(|&i| events[i].success)
        .filter(|&i| is_change(events[i]))
}

fn environment_metrics(
    name: &str,
    events: &[&DeployEvent],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    bands: &DoraBands,
) -> EnvironmentMetrics {
    // Which changes failed, and why (first cause wins).
    let mut failed: BTreeMap<usize, FailureCause> = BTreeMap::new();
    for (index, event) in events.iter().enumerate() {
        if is_change(event) && !event.success {
            failed.entry(index).or_insert(FailureCause::DeployFailed);
        }
        if !event.success {
            continue;
        }
        match event.kind {
            DeployKind::Rollback => {
                if let Some(target) = rollback_target(events, index) {
                    failed.entry(target).or_insert(FailureCause::Rollback);
                }
            }
            DeployKind::Hotfix => {
                // The hotfix repairs what was running before it, unless a rollback already did.
                if let Some(previous) = (0..index).rev().find(|&i| events[i].success)
                    && is_change(events[previous])
                {
                    failed.entry(previous).or_insert(FailureCause::Hotfix);
                }
            }
            DeployKind::Deploy => {}
        }
    }

    let in_window = |e: &DeployEvent| e.time >= start && e.time <= end;
    let changes: Vec<usize> = (0..events.len())
        .filter(|&i| is_change(events[i]) && in_window(events[i]))
        .collect();
    let successful: Vec<usize> = changes
        .iter()
        .copied()
        .filter(|&i| events[i].success)
        .collect();

    // Deployment frequency.
    let weeks = week_buckets(events, &successful, &failed, start, end);
    let deploy_days: BTreeSet<NaiveDate> = successful
        .iter()
        .map(|&i| events[i].time.date_naive())
        .collect();
    let mut per_week_days: Vec<f64> = weeks.iter().map(|w| as_f64(w.deploy_days)).collect();
    let median_days = median(&mut per_week_days).unwrap_or(0.0);
    let class = frequency_class(events, &successful, median_days, start, end);
    let window_weeks = (end - start).num_seconds().max(1) as f64 / (7.0 * 86_400.0);
    let deployments = successful.len() as u64;
    let per_deploy_day = if deploy_days.is_empty() {
        0.0
    } else {
        as_f64(deployments) / as_f64(deploy_days.len() as u64)
    };
    let deployment_frequency = DeploymentFrequency {
        deployments,
        deploy_days: deploy_days.len() as u64,
        per_week: round3(as_f64(deployments) / window_weeks),
        median_deploy_days_per_week: median_days,
        class,
        tier: class.map(|c| bands.classify_frequency(c, per_deploy_day)),
    };

    // Lead time: each source commit counts once, at its first deployment.
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut lead: Vec<f64> = Vec::new();
    for &i in &successful {
        let event = events[i];
        let Some(commit_time) = event.source_commit_time else {
            continue;
        };
        if let Some(commit) = event.source_commit.as_deref()
            && !seen.insert(commit)
        {
            continue;
        }
        let seconds = (event.time - commit_time).num_seconds();
        if seconds > 0 {
            #[allow(clippy::cast_precision_loss)]
            lead.push(seconds as f64);
        }
    }
    let histogram = HISTOGRAM
        .iter()
        .enumerate()
        .map(|(k, (below, label))| {
            let above = if k == 0 {
                0
            } else {
                HISTOGRAM[k - 1].0.unwrap_or(0)
            };
            let count = lead
                .iter()
                .filter(|&&s| s >= as_f64_i(above) && below.is_none_or(|b| s < as_f64_i(b)))
                .count() as u64;
            HistogramBucket {
                label: (*label).to_owned(),
                below_seconds: *below,
                count,
            }
        })
        .collect();
    let samples = lead.len() as u64;
    let lead_median = median(&mut lead);
    let lead_time = LeadTime {
        samples,
        median_seconds: lead_median,
        p90_seconds: percentile(&mut lead, 0.9),
        tier: lead_median.map(|s| bands.classify_lead_time(s)),
        histogram,
    };

    // Change failure rate and time to restore.
    let mut incidents = Vec::new();
    for &i in &changes {
        let Some(&cause) = failed.get(&i) else {
            continue;
        };
        let restore = (i + 1..events.len()).find(|&j| events[j].success);
        let restored_at = restore.map(|j| events[j].time);
        incidents.push(Incident {
            deployment: events[i].id.clone(),
            cause,
            failed_at: events[i].time,
            restored_at,
            restored_by: restore.map(|j| events[j].id.clone()),
            seconds: restored_at.map(|t| (t - events[i].time).num_seconds()),
        });
    }
    let failures = incidents.len() as u64;
    let rate =
        (!changes.is_empty()).then(|| round6(as_f64(failures) / as_f64(changes.len() as u64)));
    let change_failure_rate = ChangeFailureRate {
        deployments: changes.len() as u64,
        failures,
        rate,
        tier: rate.map(|r| bands.classify_change_failure_rate(r)),
    };
    #[allow(clippy::cast_precision_loss)]
    let mut restore_times: Vec<f64> = incidents
        .iter()
        .filter_map(|incident| incident.seconds.map(|s| s as f64))
        .collect();
    let restored = restore_times.len() as u64;
    let restore_median = median(&mut restore_times);
    let time_to_restore = TimeToRestore {
        restored,
        open: failures - restored,
        median_seconds: restore_median,
        tier: restore_median.map(|s| bands.classify_time_to_restore(s)),
    };

    let count_kind = |kind: DeployKind| {
        events
            .iter()
            .filter(|e| e.kind == kind && e.success && in_window(e))
            .count() as u64
    };
    let timeline = (0..events.len())
        .filter(|&i| in_window(events[i]))
        .map(|i| TimelineEvent {
            id: events[i].id.clone(),
            time: events[i].time,
            kind: events[i].kind,
            success: events[i].success,
            failed: failed.contains_key(&i),
        })
        .collect();
    EnvironmentMetrics {
        environment: name.to_owned(),
        deployment_frequency,
        lead_time,
        change_failure_rate,
        time_to_restore,
        rollbacks: count_kind(DeployKind::Rollback),
        hotfixes: count_kind(DeployKind::Hotfix),
        weeks,
        incidents,
        timeline,
    }
}

/// Monday (UTC) of the week holding `date`.
pub fn week_start(date: NaiveDate) -> NaiveDate {
    date - Duration::days(i64::from(date.weekday().num_days_from_monday()))
}

fn week_buckets(
    events: &[&DeployEvent],
    successful: &[usize],
    failed: &BTreeMap<usize, FailureCause>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<WeekBucket> {
    let mut buckets: BTreeMap<NaiveDate, (u64, BTreeSet<NaiveDate>, u64)> = BTreeMap::new();
    let last = week_start(end.date_naive());
    let mut week = week_start(start.date_naive());
    // Bounded: one step per week of the window.
    while week <= last {
        buckets.insert(week, (0, BTreeSet::new(), 0));
        week += Duration::days(7);
    }
    for &i in successful {
        let day = events[i].time.date_naive();
        if let Some(bucket) = buckets.get_mut(&week_start(day)) {
            bucket.0 += 1;
            bucket.1.insert(day);
        }
    }
    for &i in failed.keys() {
        let event = events[i];
        if event.time >= start
            && event.time <= end
            && let Some(bucket) = buckets.get_mut(&week_start(event.time.date_naive()))
        {
            bucket.2 += 1;
        }
    }
    buckets
        .into_iter()
        .map(|(week_start, (deployments, days, failures))| WeekBucket {
            week_start,
            deployments,
            deploy_days: days.len() as u64,
            failures,
        })
        .collect()
}

fn frequency_class(
    events: &[&DeployEvent],
    successful: &[usize],
    median_days_per_week: f64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Option<FrequencyClass> {
    if successful.is_empty() {
        return None;
    }
    if median_days_per_week >= 3.0 {
        return Some(FrequencyClass::Daily);
    }
    if median_days_per_week >= 1.0 {
        return Some(FrequencyClass::Weekly);
    }
    let month_of = |d: NaiveDate| (d.year(), d.month());
    let mut months: BTreeMap<(i32, u32), u64> = BTreeMap::new();
    let (mut year, mut month) = month_of(start.date_naive());
    let last = month_of(end.date_naive());
    // Bounded: one step per month of the window.
    while (year, month) <= last {
        months.insert((year, month), 0);
        (year, month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
    }
    for &i in successful {
        if let Some(count) = months.get_mut(&month_of(events[i].time.date_naive())) {
            *count += 1;
        }
    }
    let mut counts: Vec<f64> = months.values().map(|&c| as_f64(c)).collect();
    if median(&mut counts).unwrap_or(0.0) >= 1.0 {
        Some(FrequencyClass::Monthly)
    } else {
        Some(FrequencyClass::Yearly)
    }
}

#[allow(clippy::cast_precision_loss)]
fn as_f64(value: u64) -> f64 {
    value as f64
}

#[allow(clippy::cast_precision_loss)]
fn as_f64_i(value: i64) -> f64 {
    value as f64
}

fn round3(value: f64) -> f64 {
    (value * 1_000.0).round() / 1_000.0
}

fn round6(value: f64) -> f64 {
    (value * 1_000_000.0).round() / 1_000_000.0
}

/// Median with the two middle values averaged (as `PERCENTILE_CONT(x, 0.5)`).
fn median(values: &mut [f64]) -> Option<f64> {
    percentile(values, 0.5)
}

/// Linear-interpolated percentile (as `PERCENTILE_CONT`).
fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    #[allow(clippy::cast_precision_loss)]
    let rank = p * (values.len() - 1) as f64;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let low = rank.floor() as usize;
    let high = (low + 1).min(values.len() - 1);
    let fraction = rank - rank.floor();
    Some(values[low] + (values[high] - values[low]) * fraction)
}

/// Formats seconds for people: `45s`, `12m`, `3.5h`, `2.1d`.
pub fn format_seconds(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 60.0 {
        format!("{s:.0}s")
    } else if s < 3_600.0 {
        format!("{:.0}m", s / 60.0)
    } else if s < 86_400.0 {
        trim_decimal(s / 3_600.0, "h")
    } else {
        trim_decimal(s / 86_400.0, "d")
    }
}

fn trim_decimal(value: f64, unit: &str) -> String {
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text}{unit}")
}

/// Formats a 0.0-1.0 rate as a percentage with one decimal (`12.5%`).
pub fn format_rate(rate: f64) -> String {
    trim_decimal(rate * 100.0, "%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_averages_the_middle_pair() {
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut [5.0]), Some(5.0));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn formats_durations() {
        assert_eq!(format_seconds(30.0), "30s");
        assert_eq!(format_seconds(5_400.0), "1.5h");
        assert_eq!(format_seconds(2.0 * 86_400.0), "2d");
        assert_eq!(format_rate(0.125), "12.5%");
    }
}
