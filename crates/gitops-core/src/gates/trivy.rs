//! Trivy JSON (`trivy image --format json`): fail on vulnerabilities at or above the policy's
//! severity that are not allow-listed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Allowlist, Finding, GateError, GateKind, GateOutcome};
use crate::policy::{Severity, VulnerabilityGate};

/// A Trivy report; every field is optional, as Trivy omits empty ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrivyReport {
    /// The scanned artefact, e.g. `ghcr.io/acme/backend:dev-abc1234`.
    #[serde(default)]
    pub artifact_name: Option<String>,
    /// One entry per scanned target (OS packages, a lock file, ...).
    #[serde(default)]
    pub results: Option<Vec<TrivyResult>>,
}

/// One scanned target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrivyResult {
    /// The target: an image's OS (`alpine 3.18`) or a file (`Cargo.lock`).
    #[serde(default)]
    pub target: Option<String>,
    /// `os-pkgs`, `lang-pkgs`, `config`, `secret`.
    #[serde(default)]
    pub class: Option<String>,
    /// Vulnerabilities found; missing means none.
    #[serde(default)]
    pub vulnerabilities: Option<Vec<TrivyVulnerability>>,
}

/// One vulnerability.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrivyVulnerability {
    /// `CVE-...`, `GHSA-...`.
    #[serde(rename = "VulnerabilityID", default)]
    pub vulnerability_id: Option<String>,
    /// Affected package.
    #[serde(default)]
    pub pkg_name: Option<String>,
    /// Installed version.
    #[serde(default)]
    pub installed_version: Option<String>,
    /// First fixed version, if any.
    #[serde(default)]
    pub fixed_version: Option<String>,
    /// `UNKNOWN`, `LOW`, `MEDIUM`, `HIGH`, `CRITICAL`.
    #[serde(default)]
    pub severity: Option<String>,
    /// Short title.
    #[serde(default)]
    pub title: Option<String>,
}

/// Parses a Trivy JSON report; `file` names it in errors.
pub fn parse_trivy(text: &str, file: &str) -> Result<TrivyReport, GateError> {
    // Decoded straight into the typed report (no intermediate JSON tree): reports of large
    // images run to tens of megabytes.
    if !text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('{')
    {
        return Err(GateError::Invalid {
            file: file.to_owned(),
            format: "Trivy JSON",
            problem: "expected a JSON object with `Results` (run `trivy image --format json`)"
                .to_owned(),
        });
    }
    serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|source| GateError::Json {
        file: file.to_owned(),
        format: "Trivy JSON",
        source,
    })
}

fn severity_of(text: Option<&str>) -> Severity {
    match text.map(|s| s.trim().to_ascii_uppercase()).as_deref() {
        Some("CRITICAL") => Severity::Critical,
        Some("HIGH") => Severity::High,
        Some("MEDIUM") => Severity::Medium,
        Some("LOW") => Severity::Low,
        _ => Severity::Unknown,
    }
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Unknown => "UNKNOWN",
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

/// Evaluates a Trivy report: vulnerabilities at or above `gate.fail_on` fail unless a
/// non-expired allow-list entry covers them. An expired entry no longer covers its
/// vulnerability (the reason says so); entries expiring within 14 days are noted.
pub fn evaluate_trivy(
    report: &TrivyReport,
    source: &str,
    gate: &VulnerabilityGate,
    allowlist: &Allowlist,
    now: DateTime<Utc>,
) -> GateOutcome {
    let mut findings = Vec::new();
    let mut reasons = Vec::new();
    let mut total = 0usize;
    let mut allowed = 0usize;
    for result in report.results.iter().flatten() {
        // Only file targets (lock files) give annotations a real location.
        let file = match result.class.as_deref() {
            Some("lang-pkgs") => result.target.clone(),
            _ => None,
        };
        for vuln in result.vulnerabilities.iter().flatten() {
            total += 1;
            let severity = severity_of(vuln.severity.as_deref());
            if severity < gate.fail_on {
                continue;
            }
            let id = vuln
                .vulnerability_id
                .clone()
                .unwrap_or_else(|| "<no ID>".to_owned());
            match allowlist.entry(&id) {
                Some(entry) if !entry.is_expired(now) => {
                    allowed += 1;
                    if (entry.expires - now.date_naive()).num_days() < 14 {
                        reasons.push(format!(
                            "allow-list entry {id} expires on {} ({})",
                            entry.expires, entry.reason
                        ));
                    }
                    continue;
                }
                Some(entry) => reasons.push(format!(
                    "allow-list entry {id} expired on {}: it no longer allows the vulnerability; fix it or renew the entry with a new reason",
                    entry.expires
                )),
                None => {}
            }
            let package = vuln.pkg_name.as_deref().unwrap_or("<unknown package>");
            let installed = vuln.installed_version.as_deref().unwrap_or("?");
            let fix = match vuln.fixed_version.as_deref() {
                Some(v) if !v.is_empty() => format!("fixed in {v}"),
                _ => "no fix yet".to_owned(),
            };
            let title = vuln
                .title
                .as_deref()
                .map(|t| format!(": {t}"))
                .unwrap_or_default();
            let target = result.target.as_deref().unwrap_or("?");
            findings.push(Finding {
                message: format!(
                    "{id} ({}) in {package} {installed} ({fix}) [{target}]{title}",
                    severity_name(severity)
                ),
                id: Some(id),
                file: file.clone(),
                line: None,
            });
        }
    }
    // Expired entries that match nothing no longer matter for this report; say so, so that
    // the allow-list gets cleaned up.
    for entry in &allowlist.vulnerabilities {
        let seen = report.results.iter().flatten().any(|r| {
            r.vulnerabilities.iter().flatten().any(|v| {
                v.vulnerability_id
                    .as_deref()
                    .is_some_and(|id| id.eq_ignore_ascii_case(entry.id.trim()))
            })
        });
        if entry.is_expired(now) && !seen {
            reasons.push(format!(
                "allow-list entry {} expired on {} and matches nothing in this report: remove it",
                entry.id, entry.expires
            ));
        }
    }
    dedup_reasons(&mut reasons);
    let passed = findings.is_empty();
    let at = severity_name(gate.fail_on);
    let summary = if passed {
        format!(
            "no unallowed vulnerability at or above {at} ({total} found in total, {allowed} allow-listed)"
        )
    } else {
        format!(
            "{} {} at or above {at} ({total} found in total, {allowed} allow-listed)",
            findings.len(),
            if findings.len() == 1 {
                "vulnerability"
            } else {
                "vulnerabilities"
            }
        )
    };
    GateOutcome {
        gate: GateKind::Vulnerabilities,
        source: source.to_owned(),
        passed,
        summary,
        reasons,
        findings,
    }
}

fn dedup_reasons(reasons: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    reasons.retain(|r| seen.insert(r.clone()));
}
