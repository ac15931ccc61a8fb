//! The four keys in the Prometheus text exposition format (for a Pushgateway or a textfile
//! collector), one gauge family per value with an `environment` label.

use std::fmt::Write as _;

use super::{EnvironmentMetrics, MetricsReport};

/// One gauge family: name, help text and how to read its value from an environment.
struct Family {
    name: &'static str,
    help: &'static str,
    value: fn(&EnvironmentMetrics) -> Option<f64>,
}

#[allow(clippy::cast_precision_loss)]
fn count(value: u64) -> Option<f64> {
    Some(value as f64)
}

const FAMILIES: &[Family] = &[
    Family {
        name: "gitops_dora_deployments",
        help: "Successful deployments (deploys and hotfixes) in the window.",
        value: |e| count(e.deployment_frequency.deployments),
    },
    Family {
        name: "gitops_dora_deployments_per_week",
        help: "Successful deployments per week, averaged over the window.",
        value: |e| Some(e.deployment_frequency.per_week),
    },
    Family {
        name: "gitops_dora_deploy_days_per_week_median",
        help: "Median over the window's weeks of the days with a deployment.",
        value: |e| Some(e.deployment_frequency.median_deploy_days_per_week),
    },
    Family {
        name: "gitops_dora_lead_time_seconds",
        help: "Median lead time for changes (deploy time - source commit time), in seconds.",
        value: |e| e.lead_time.median_seconds,
    },
    Family {
        name: "gitops_dora_lead_time_p90_seconds",
        help: "90th percentile lead time for changes, in seconds.",
        value: |e| e.lead_time.p90_seconds,
    },
    Family {
        name: "gitops_dora_lead_time_samples",
        help: "Deployed source commits with a known commit time.",
        value: |e| count(e.lead_time.samples),
    },
    Family {
        name: "gitops_dora_change_failure_rate",
        help: "Failed deployments (rolled back, hotfixed or not successful) / deployments, 0-1.",
        value: |e| e.change_failure_rate.rate,
    },
    Family {
        name: "gitops_dora_failed_deployments",
        help: "Deployments in the window that failed.",
        value: |e| count(e.change_failure_rate.failures),
    },
    Family {
        name: "gitops_dora_time_to_restore_seconds",
        help: "Median time from a failed deployment to the next successful one, in seconds.",
        value: |e| e.time_to_restore.median_seconds,
    },
    Family {
        name: "gitops_dora_open_failures",
        help: "Failed deployments not yet followed by a successful one.",
        value: |e| count(e.time_to_restore.open),
    },
    Family {
        name: "gitops_dora_rollbacks",
        help: "Rollbacks in the window.",
        value: |e| count(e.rollbacks),
    },
    Family {
        name: "gitops_dora_hotfixes",
        help: "Hotfix deployments in the window.",
        value: |e| count(e.hotfixes),
    },
];

/// Renders the report in the Prometheus text exposition format (version 0.0.4).
///
/// Values without data (no samples) are left out rather than written as `NaN`. Tiers are
/// `gitops_dora_tier{environment, metric, tier, bands}` with elite 4, high 3, medium 2, low 1.
pub fn render_prometheus(report: &MetricsReport) -> String {
    let mut out = String::new();
    for family in FAMILIES {
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} gauge", family.name);
        for env in &report.environments {
            if let Some(value) = (family.value)(env) {
                let _ = writeln!(
                    out,
                    "{}{{environment=\"{}\"}} {}",
                    family.name,
                    escape(&env.environment),
                    number(value)
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP gitops_dora_tier DORA performance tier per metric: elite 4, high 3, medium 2, low 1."
    );
    let _ = writeln!(out, "# TYPE gitops_dora_tier gauge");
    let bands = escape(&report.bands.source);
    for env in &report.environments {
        let tiers = [
            ("deployment_frequency", env.deployment_frequency.tier),
            ("lead_time", env.lead_time.tier),
            ("change_failure_rate", env.change_failure_rate.tier),
            ("time_to_restore", env.time_to_restore.tier),
        ];
        for (metric, tier) in tiers {
            if let Some(tier) = tier {
                let _ = writeln!(
                    out,
                    "gitops_dora_tier{{environment=\"{}\",metric=\"{metric}\",tier=\"{tier}\",bands=\"{bands}\"}} {}",
                    escape(&env.environment),
                    tier.score()
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP gitops_dora_window_seconds Length of the measured window, in seconds."
    );
    let _ = writeln!(out, "# TYPE gitops_dora_window_seconds gauge");
    let _ = writeln!(
        out,
        "gitops_dora_window_seconds {}",
        (report.window.end - report.window.start).num_seconds()
    );
    let _ = writeln!(
        out,
        "# HELP gitops_dora_report_timestamp_seconds When the metrics were computed (Unix time)."
    );
    let _ = writeln!(out, "# TYPE gitops_dora_report_timestamp_seconds gauge");
    let _ = writeln!(
        out,
        "gitops_dora_report_timestamp_seconds {}",
        report.generated_at.timestamp()
    );
    out
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}
