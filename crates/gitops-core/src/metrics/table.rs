//! The four keys as a plain-text table for a terminal.

use std::fmt::Write as _;

use super::{MetricsReport, Tier, format_rate, format_seconds};

fn with_tier(value: String, tier: Option<Tier>) -> String {
    match tier {
        Some(tier) => format!("{value} ({tier})"),
        None => value,
    }
}

/// Renders the report as an aligned table with one row per environment.
pub fn render_table(report: &MetricsReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "DORA metrics {} .. {} ({} days), tiers per {}",
        report.window.start.format("%Y-%m-%d %H:%M"),
        report.window.end.format("%Y-%m-%d %H:%M UTC"),
        trim(report.window.days),
        report.bands.source
    );
    if report.environments.is_empty() {
        out.push_str("no deployments found in the ledger\n");
        return out;
    }
    let header = [
        "ENVIRONMENT",
        "DEPLOYS",
        "FREQUENCY",
        "LEAD TIME",
        "CHANGE FAILURE",
        "TIME TO RESTORE",
    ];
    let mut rows: Vec<[String; 6]> = vec![header.map(str::to_owned)];
    for env in &report.environments {
        let f = &env.deployment_frequency;
        let frequency = match f.class {
            Some(class) => with_tier(format!("{class}, {}/wk", trim(f.per_week)), f.tier),
            None => "-".to_owned(),
        };
        let lead = env.lead_time.median_seconds.map_or_else(
            || "-".to_owned(),
            |s| with_tier(format_seconds(s), env.lead_time.tier),
        );
        let cfr = &env.change_failure_rate;
        let failure = cfr.rate.map_or_else(
            || "-".to_owned(),
            |r| {
                with_tier(
                    format!("{} ({}/{})", format_rate(r), cfr.failures, cfr.deployments),
                    cfr.tier,
                )
            },
        );
        let ttr = &env.time_to_restore;
        let mut restore = ttr.median_seconds.map_or_else(
            || "-".to_owned(),
            |s| with_tier(format_seconds(s), ttr.tier),
        );
        if ttr.open > 0 {
            restore.push_str(&format!(", {} open", ttr.open));
        }
        rows.push([
            env.environment.clone(),
            f.deployments.to_string(),
            frequency,
            lead,
            failure,
            restore,
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

fn trim(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").unwrap_or(&text).to_owned()
}
