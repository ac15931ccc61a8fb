//! SonarQube: `report-task.txt` and the Web API responses a quality-gate check reads
//! (`api/ce/task`, `api/qualitygates/project_status`), and their evaluation.

use serde::{Deserialize, Serialize};

use super::{Finding, GateError, GateKind, GateOutcome};
use crate::policy::SonarGate;

/// What the scanner wrote to `.scannerwork/report-task.txt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportTask {
    /// `serverUrl`.
    pub server_url: String,
    /// `ceTaskUrl`: the compute task to poll.
    pub ce_task_url: String,
    /// `dashboardUrl`, when present.
    pub dashboard_url: Option<String>,
    /// `projectKey`, when present.
    pub project_key: Option<String>,
}

/// Parses `report-task.txt` (`key=value` lines, `#` comments).
pub fn parse_report_task(text: &str, file: &str) -> Result<ReportTask, GateError> {
    let mut server_url = None;
    let mut ce_task_url = None;
    let mut dashboard_url = None;
    let mut project_key = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = Some(value.trim().to_owned()).filter(|v| !v.is_empty());
        match key.trim() {
            "serverUrl" => server_url = value,
            "ceTaskUrl" => ce_task_url = value,
            "dashboardUrl" => dashboard_url = value,
            "projectKey" => project_key = value,
            _ => {}
        }
    }
    let missing = |field: &str| GateError::Invalid {
        file: file.to_owned(),
        format: "SonarQube report-task.txt",
        problem: format!(
            "`{field}` is missing; point --sonar-report at .scannerwork/report-task.txt written by a finished scan"
        ),
    };
    Ok(ReportTask {
        server_url: server_url.ok_or_else(|| missing("serverUrl"))?,
        ce_task_url: ce_task_url.ok_or_else(|| missing("ceTaskUrl"))?,
        dashboard_url,
        project_key,
    })
}

/// `GET api/ce/task?id=...` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CeTaskResponse {
    /// The task.
    pub task: CeTask,
}

/// A compute-engine task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CeTask {
    /// `PENDING`, `IN_PROGRESS`, `SUCCESS`, `FAILED`, `CANCELED`.
    pub status: String,
    /// Set once the task succeeded.
    #[serde(default)]
    pub analysis_id: Option<String>,
    /// Why it failed.
    #[serde(default)]
    pub error_message: Option<String>,
}

impl CeTask {
    /// Whether the task is still queued or running.
    pub fn is_pending(&self) -> bool {
        matches!(self.status.as_str(), "PENDING" | "IN_PROGRESS")
    }
}

/// `GET api/qualitygates/project_status?analysisId=...` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SonarProjectStatusResponse {
    /// The gate status.
    pub project_status: SonarProjectStatus,
}

/// A quality gate's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SonarProjectStatus {
    /// `OK`, `WARN`, `ERROR` or `NONE`.
    pub status: String,
    /// The gate's conditions.
    #[serde(default)]
    pub conditions: Vec<SonarCondition>,
}

/// One quality-gate condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SonarCondition {
    /// `OK`, `WARN`, `ERROR`.
    pub status: String,
    /// e.g. `new_coverage`.
    pub metric_key: String,
    /// `GT`, `LT`.
    #[serde(default)]
    pub comparator: Option<String>,
    /// Threshold.
    #[serde(default)]
    pub error_threshold: Option<String>,
    /// Measured value.
    #[serde(default)]
    pub actual_value: Option<String>,
}

/// Evaluates a finished compute task and (when it succeeded) the project status: OK and WARN
/// pass, ERROR fails, NONE fails unless `gate.allow_none`; a failed or cancelled task fails.
pub fn evaluate_sonar(
    task: &CeTask,
    status: Option<&SonarProjectStatus>,
    source: &str,
    dashboard: Option<&str>,
    gate: &SonarGate,
) -> GateOutcome {
    let mut reasons = Vec::new();
    if let Some(url) = dashboard {
        reasons.push(format!("dashboard: {url}"));
    }
    let outcome = |passed: bool, summary: String, reasons: Vec<String>, findings| GateOutcome {
        gate: GateKind::Sonarqube,
        source: source.to_owned(),
        passed,
        summary,
        reasons,
        findings,
    };
    let Some(status) = status.filter(|_| task.status == "SUCCESS") else {
        reasons.insert(
            0,
            format!(
                "analysis task ended {}{}",
                task.status,
                task.error_message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
        );
        return outcome(
            false,
            format!("analysis {}", task.status),
            reasons,
            Vec::new(),
        );
    };
    let findings: Vec<Finding> = status
        .conditions
        .iter()
        .filter(|c| c.status != "OK")
        .map(|c| Finding {
            message: format!(
                "{} {}: {} (threshold {} {})",
                c.metric_key,
                c.status,
                c.actual_value.as_deref().unwrap_or("?"),
                c.comparator.as_deref().unwrap_or("?"),
                c.error_threshold.as_deref().unwrap_or("?")
            ),
            id: Some(c.metric_key.clone()),
            file: None,
            line: None,
        })
        .collect();
    let passed = match status.status.as_str() {
        "OK" | "WARN" => true,
        "NONE" => {
            if gate.allow_none {
                reasons.push(
                    "no quality gate is set on the server (allowed by gates.sonarqube.allow_none)"
                        .to_owned(),
                );
            } else {
                reasons.push("no quality gate is set on the server: assign one, or set gates.sonarqube.allow_none".to_owned());
            }
            gate.allow_none
        }
        _ => false,
    };
    outcome(
        passed,
        format!("quality gate {}", status.status),
        reasons,
        findings,
    )
}
