//! gitleaks JSON reports: any finding fails. `Secret` and `Match` are never even read, so
//! they cannot reach any output.

use serde::{Deserialize, Serialize};

use super::{Finding, GateError, GateKind, GateOutcome};

/// One gitleaks finding, without the secret (`Secret` and `Match` are deliberately not
/// deserialised).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GitleaksFinding {
    /// Rule that matched, e.g. `aws-access-token`.
    #[serde(rename = "RuleID", default)]
    pub rule_id: Option<String>,
    /// Rule description.
    #[serde(default)]
    pub description: Option<String>,
    /// File the secret is in.
    #[serde(default)]
    pub file: Option<String>,
    /// First line of the match.
    #[serde(default)]
    pub start_line: Option<u32>,
    /// Commit that introduced it (empty for `--no-git` scans).
    #[serde(default)]
    pub commit: Option<String>,
    /// `commit:file:rule:line`, the form `.gitleaksignore` lists.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// Parses a gitleaks JSON report (an array of findings; `null` means none).
pub fn parse_gitleaks(text: &str, file: &str) -> Result<Vec<GitleaksFinding>, GateError> {
    if text.trim().is_empty() {
        return Err(GateError::Invalid {
            file: file.to_owned(),
            format: "gitleaks JSON",
            problem: "the file is empty; run gitleaks with `--report-format json --report-path` (an empty scan writes `[]`)".to_owned(),
        });
    }
    let findings: Option<Vec<GitleaksFinding>> =
        serde_json::from_str(text).map_err(|source| GateError::Json {
            file: file.to_owned(),
            format: "gitleaks JSON",
            source,
        })?;
    Ok(findings.unwrap_or_default())
}

/// Evaluates gitleaks findings: any finding fails; messages name rule, file and line only.
pub fn evaluate_gitleaks(findings: &[GitleaksFinding], source: &str) -> GateOutcome {
    let listed: Vec<Finding> = findings
        .iter()
        .map(|f| {
            let rule = f.rule_id.clone().unwrap_or_else(|| "unknown-rule".to_owned());
            let commit = f
                .commit
                .as_deref()
                .filter(|c| !c.is_empty())
                .map(|c| format!(" in commit {}", c.chars().take(7).collect::<String>()))
                .unwrap_or_default();
            let description = f
                .description
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            Finding {
                message: format!(
                    "secret found by rule {rule}{commit}{description} (value [REDACTED]); rotate it, then remove it or add the fingerprint to .gitleaksignore"
                ),
                id: Some(rule),
                file: f.file.clone().filter(|p| !p.is_empty()),
                line: f.start_line.filter(|l| *l > 0),
            }
        })
        .collect();
    let passed = listed.is_empty();
    GateOutcome {
        gate: GateKind::Secrets,
        source: source.to_owned(),
        passed,
        summary: if passed {
            "no secret found".to_owned()
        } else {
            format!(
                "{} {} found",
                listed.len(),
                if listed.len() == 1 {
                    "secret"
                } else {
                    "secrets"
                }
            )
        },
        reasons: Vec::new(),
        findings: listed,
    }
}
