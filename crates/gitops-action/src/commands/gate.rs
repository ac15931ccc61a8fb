//! `gitops gate`: evaluate quality gates from scanner and test reports.
//!
//! Reads each report (Trivy JSON, coverage, gitleaks JSON, JUnit XML, SonarQube
//! `report-task.txt`), lets `gitops_core::gates` judge it against the policy, then prints a
//! line per gate (or JSON), writes a Markdown table to the step summary and `::error`
//! annotations with file and line. A missing or malformed report fails its gate (exit 1); a
//! SonarQube server unreachable after retries exits 3 (after printing the other gates).

use std::path::{Path, PathBuf};
use std::time::Duration;

use gitops_core::gates::{
    self, Allowlist, GateError, GateKind, GateOutcome, GateReport, SonarClient, SonarError,
};
use gitops_core::policy::Policy;

use crate::context::{Context, block_on};
use crate::exit::{self, Status};
use crate::github_actions::{self as gha, Level, Location};

/// Arguments of `gitops gate`. Every report flag may be repeated; each file is its own gate
/// row.
#[derive(Debug, clap::Args)]
pub struct GateArgs {
    /// Trivy JSON report (`trivy image --format json -o FILE`).
    #[arg(long, value_name = "FILE")]
    pub trivy: Vec<PathBuf>,
    /// Coverage report: lcov, Cobertura XML or `cargo llvm-cov --json --summary-only`
    /// (detected from the content).
    #[arg(long, value_name = "FILE")]
    pub coverage: Vec<PathBuf>,
    /// gitleaks JSON report (`gitleaks detect --report-format json --report-path FILE`).
    #[arg(long, value_name = "FILE")]
    pub gitleaks: Vec<PathBuf>,
    /// JUnit XML test results (several files may follow one flag).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub junit: Vec<PathBuf>,
    /// SonarQube `.scannerwork/report-task.txt`; the token is read from `SONAR_TOKEN`.
    #[arg(long, value_name = "FILE")]
    pub sonar_report: Vec<PathBuf>,
    /// Vulnerability allow-list (YAML: `vulnerabilities: [{id, reason, expires}]`).
    /// Default: `gates.vulnerabilities.allowlist` of the policy.
    #[arg(long, value_name = "FILE")]
    pub allowlist: Vec<PathBuf>,
    /// Pause between polls of a pending SonarQube analysis and between retries.
    #[arg(long, value_name = "SECONDS", default_value_t = 2, hide = true)]
    pub sonar_poll_seconds: u64,
}

/// Runs `gitops gate`.
pub fn run(args: GateArgs, ctx: &Context) -> anyhow::Result<Status> {
    let total = args.trivy.len()
        + args.coverage.len()
        + args.gitleaks.len()
        + args.junit.len()
        + args.sonar_report.len();
    if total == 0 {
        anyhow::bail!(
            "no report given: pass at least one of --trivy, --coverage, --gitleaks, --junit, --sonar-report"
        );
    }
    let policy = ctx.policy()?;
    let sonar_token = std::env::var("SONAR_TOKEN").ok().filter(|t| !t.is_empty());
    if let Some(token) = &sonar_token {
        gha::mask(token);
    }
    let (outcomes, unreachable) = evaluate_all(&args, policy, ctx, sonar_token)?;
    let report = GateReport::new(outcomes);
    emit(&report, ctx)?;
    if let Some(err) = unreachable {
        return Err(exit::external(err));
    }
    Ok(if report.passed {
        Status::Success
    } else {
        Status::Denied
    })
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| {
        format!(
            "{}: cannot read the report: {e}; check the path and that the producing step ran",
            path.display()
        )
    })
}

fn disabled(kind: GateKind, source: &str) -> GateOutcome {
    GateOutcome {
        gate: kind,
        source: source.to_owned(),
        passed: true,
        summary: "gate disabled by the policy".to_owned(),
        reasons: Vec::new(),
        findings: Vec::new(),
    }
}

/// Evaluates every report; returns the outcomes and, when a SonarQube server was
/// unreachable, that error.
fn evaluate_all(
    args: &GateArgs,
    policy: &Policy,
    ctx: &Context,
    sonar_token: Option<String>,
) -> anyhow::Result<(Vec<GateOutcome>, Option<SonarError>)> {
    let gates_policy = &policy.gates;
    let mut outcomes = Vec::new();
    let one = |kind: GateKind,
               path: &Path,
               eval: &dyn Fn(&str, &str) -> Result<GateOutcome, GateError>|
     -> GateOutcome {
        let source = path.display().to_string();
        match read(path) {
            Err(message) => GateOutcome::failed_to_read(kind, &source, message),
            Ok(text) => eval(&text, &source)
                .unwrap_or_else(|err| GateOutcome::unreadable(kind, &source, &err)),
        }
    };

    // The allow-list: flags, else the policy's file. A broken allow-list fails closed.
    let allowlist_paths: Vec<PathBuf> = if args.allowlist.is_empty() {
        gates_policy
            .vulnerabilities
            .allowlist
            .iter()
            .map(PathBuf::from)
            .collect()
    } else {
        args.allowlist.clone()
    };
    let mut allowlist = Allowlist::default();
    let mut allowlist_error = None;
    for path in &allowlist_paths {
        let source = path.display().to_string();
        match read(path).and_then(|t| Allowlist::parse(&t, &source).map_err(|e| e.to_string())) {
            Ok(list) => allowlist.extend(list),
            Err(message) => allowlist_error = Some(message),
        }
    }
    for path in &args.trivy {
        let source = path.display().to_string();
        let outcome = if !gates_policy.vulnerabilities.enabled {
            disabled(GateKind::Vulnerabilities, &source)
        } else if let Some(message) = &allowlist_error {
            GateOutcome::failed_to_read(GateKind::Vulnerabilities, &source, message.clone())
        } else {
            one(GateKind::Vulnerabilities, path, &|text, source| {
                let report = gates::parse_trivy(text, source)?;
                Ok(gates::evaluate_trivy(
                    &report,
                    source,
                    &gates_policy.vulnerabilities,
                    &allowlist,
                    ctx.now,
                ))
            })
        };
        outcomes.push(outcome);
    }
    for path in &args.coverage {
        outcomes.push(if gates_policy.coverage.enabled {
            one(GateKind::Coverage, path, &|text, source| {
                let summary = gates::parse_coverage(text, source)?;
                Ok(gates::evaluate_coverage(
                    &summary,
                    source,
                    &gates_policy.coverage,
                ))
            })
        } else {
            disabled(GateKind::Coverage, &path.display().to_string())
        });
    }
    for path in &args.gitleaks {
        outcomes.push(if gates_policy.secrets.enabled {
            one(GateKind::Secrets, path, &|text, source| {
                let findings = gates::parse_gitleaks(text, source)?;
                Ok(gates::evaluate_gitleaks(&findings, source))
            })
        } else {
            disabled(GateKind::Secrets, &path.display().to_string())
        });
    }
    for path in &args.junit {
        outcomes.push(one(GateKind::Tests, path, &|text, source| {
            let summary = gates::parse_junit(text, source)?;
            Ok(gates::evaluate_junit(&summary, source))
        }));
    }
    let mut unreachable = None;
    if !args.sonar_report.is_empty() {
        let mut client = SonarClient::new(sonar_token);
        client.poll_interval = Duration::from_secs(args.sonar_poll_seconds);
        client.retry_pause = Duration::from_secs(args.sonar_poll_seconds);
        let timeout = Duration::from_secs(
            u64::try_from(gates_policy.sonarqube.timeout.as_seconds()).unwrap_or(0),
        );
        for path in &args.sonar_report {
            let source = path.display().to_string();
            if !gates_policy.sonarqube.enabled {
                outcomes.push(disabled(GateKind::Sonarqube, &source));
                continue;
            }
            let task = match read(path)
                .and_then(|t| gates::parse_report_task(&t, &source).map_err(|e| e.to_string()))
            {
                Ok(task) => task,
                Err(message) => {
                    outcomes.push(GateOutcome::failed_to_read(
                        GateKind::Sonarqube,
                        &source,
                        message,
                    ));
                    continue;
                }
            };
            let outcome = match block_on(client.wait_for_gate(&task, timeout))? {
                Ok((ce, status)) => gates::evaluate_sonar(
                    &ce,
                    status.as_ref(),
                    &source,
                    task.dashboard_url.as_deref(),
                    &gates_policy.sonarqube,
                ),
                Err(err) => {
                    let outcome =
                        GateOutcome::failed_to_read(GateKind::Sonarqube, &source, err.to_string());
                    if err.is_unreachable() {
                        unreachable = Some(err);
                    }
                    outcome
                }
            };
            outcomes.push(outcome);
        }
    }
    Ok((outcomes, unreachable))
}

/// Most file annotations written per gate (and findings per gate in an oversized output).
const MAX_ANNOTATIONS: usize = 50;

/// Above this size the `report` output is written with trimmed finding lists.
const MAX_OUTPUT_BYTES: usize = 256 * 1024;

/// Prints the report (text or JSON) and, inside GitHub Actions, the step summary,
/// annotations and outputs.
fn emit(report: &GateReport, ctx: &Context) -> anyhow::Result<()> {
    if ctx.json() {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", report.to_human());
    }
    gha::append_summary(&report.to_markdown())?;
    for gate in report.gates.iter().filter(|g| !g.passed) {
        let title = format!("{} gate failed", gate.gate.name());
        let located: Vec<_> = gate.findings.iter().filter(|f| f.file.is_some()).collect();
        // GitHub shows only the first few annotations of a step; the summary lists the rest.
        for finding in located.iter().take(MAX_ANNOTATIONS) {
            gha::annotation(
                Level::Error,
                &finding.message,
                &Location {
                    file: finding.file.as_deref(),
                    line: finding.line,
                    col: None,
                    title: Some(&title),
                },
            );
        }
        if located.len() < gate.findings.len() || gate.findings.is_empty() {
            let mut message = format!("{} ({})", gate.summary, gate.source);
            for reason in &gate.reasons {
                message.push_str(&format!("\n{reason}"));
            }
            gha::annotation(
                Level::Error,
                &message,
                &Location {
                    title: Some(&title),
                    ..Location::default()
                },
            );
        }
    }
    let mut json = serde_json::to_string(report)?;
    if json.len() > MAX_OUTPUT_BYTES {
        // Step outputs are limited in size: keep the verdicts, trim the finding lists (the
        // step summary and `--format json` keep them all).
        let mut trimmed = report.clone();
        for gate in &mut trimmed.gates {
            gate.findings.truncate(MAX_ANNOTATIONS);
        }
        json = serde_json::to_string(&trimmed)?;
    }
    gha::set_outputs([
        ("passed", if report.passed { "true" } else { "false" }),
        ("report", json.as_str()),
    ])?;
    Ok(())
}
