//! The result of evaluating gates: serialisable, printable as lines or a Markdown table.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::GateError;

/// Which gate a result belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateKind {
    /// Image vulnerabilities (Trivy JSON).
    Vulnerabilities,
    /// Line coverage (lcov, Cobertura, cargo-llvm-cov).
    Coverage,
    /// Leaked secrets (gitleaks JSON).
    Secrets,
    /// Test results (JUnit XML).
    Tests,
    /// SonarQube quality gate.
    Sonarqube,
}

impl GateKind {
    /// The name shown in output.
    pub fn name(self) -> &'static str {
        match self {
            Self::Vulnerabilities => "vulnerabilities",
            Self::Coverage => "coverage",
            Self::Secrets => "secrets",
            Self::Tests => "tests",
            Self::Sonarqube => "sonarqube",
        }
    }
}

/// One problem a gate found, located where the report says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What was found (never contains a secret).
    pub message: String,
    /// Identifier: vulnerability ID, gitleaks rule, test name, Sonar metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// File the finding is in, when the report says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Line in that file, when the report says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// The verdict of one gate on one report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateOutcome {
    /// The gate.
    pub gate: GateKind,
    /// The report file (or URL) evaluated.
    pub source: String,
    /// Whether the gate passed.
    pub passed: bool,
    /// One-line summary, e.g. `coverage 50.00% (must be > 50%)`.
    pub summary: String,
    /// Why it failed, or notes worth reading even when it passed (e.g. expiring allow-list
    /// entries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// The findings that made it fail.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

impl GateOutcome {
    /// A failed gate for a report that could not be read or parsed (fail closed).
    pub fn unreadable(gate: GateKind, source: &str, error: &GateError) -> Self {
        Self::failed_to_read(gate, source, error.to_string())
    }

    /// A failed gate for a report that could not be obtained; `message` says why.
    pub fn failed_to_read(gate: GateKind, source: &str, message: String) -> Self {
        Self {
            gate,
            source: source.to_owned(),
            passed: false,
            summary: "report unusable".to_owned(),
            reasons: vec![message],
            findings: Vec::new(),
        }
    }
}

/// All gate outcomes of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    /// True when every gate passed (and at least one ran).
    pub passed: bool,
    /// One entry per report evaluated, in the order given.
    pub gates: Vec<GateOutcome>,
}

/// Most findings listed per gate in the Markdown table and human output.
const MAX_LISTED: usize = 20;

impl GateReport {
    /// Builds the report; an empty list of gates does not pass (nothing was checked).
    pub fn new(gates: Vec<GateOutcome>) -> Self {
        let passed = !gates.is_empty() && gates.iter().all(|g| g.passed);
        Self { passed, gates }
    }

    /// One line per gate, followed by indented reasons and findings.
    pub fn to_human(&self) -> String {
        let mut out = String::new();
        for gate in &self.gates {
            let verdict = if gate.passed { "PASS" } else { "FAIL" };
            let _ = writeln!(
                out,
                "{verdict} {:<16} {} ({})",
                gate.gate.name(),
                gate.summary,
                gate.source
            );
            for reason in &gate.reasons {
                let _ = writeln!(out, "     - {reason}");
            }
            for finding in gate.findings.iter().take(MAX_LISTED) {
                let _ = writeln!(out, "     * {}", finding_text(finding));
            }
            if gate.findings.len() > MAX_LISTED {
                let _ = writeln!(
                    out,
                    "     * ... and {} more (see --format json)",
                    gate.findings.len() - MAX_LISTED
                );
            }
        }
        let _ = writeln!(
            out,
            "{}",
            if self.passed {
                "all gates passed"
            } else if self.gates.is_empty() {
                "no report given: nothing was checked"
            } else {
                "gates FAILED"
            }
        );
        out
    }

    /// A Markdown section for the GitHub step summary: a table with one row per gate, then the
    /// failing findings.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "### Quality gates: {}\n",
            if self.passed { "passed" } else { "FAILED" }
        );
        out.push_str("| gate | result | summary | report |\n|---|---|---|---|\n");
        for gate in &self.gates {
            let _ = writeln!(
                out,
                "| {} | {} | {} | `{}` |",
                gate.gate.name(),
                if gate.passed { "✅ pass" } else { "❌ fail" },
                md_cell(&gate.summary),
                md_cell(&gate.source).replace('`', "'"),
            );
        }
        for gate in self
            .gates
            .iter()
            .filter(|g| !g.reasons.is_empty() || !g.findings.is_empty())
        {
            let _ = writeln!(out, "\n**{}** (`{}`)\n", gate.gate.name(), gate.source);
            for reason in &gate.reasons {
                let _ = writeln!(out, "- {}", md_cell(reason));
            }
            for finding in gate.findings.iter().take(MAX_LISTED) {
                let _ = writeln!(out, "- {}", md_cell(&finding_text(finding)));
            }
            if gate.findings.len() > MAX_LISTED {
                let _ = writeln!(out, "- ... and {} more", gate.findings.len() - MAX_LISTED);
            }
        }
        out
    }
}

/// `file:line: message [id]`.
fn finding_text(finding: &Finding) -> String {
    let location = match (&finding.file, finding.line) {
        (Some(file), Some(line)) => format!("{file}:{line}: "),
        (Some(file), None) => format!("{file}: "),
        _ => String::new(),
    };
    format!("{location}{}", finding.message)
}

/// Keeps a value on one table row: no newlines, pipes escaped, no HTML (`<anonymous>` in a
/// stack trace must not become a tag).
fn md_cell(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\r', "")
        .replace('\n', " ")
        .replace('|', "\\|")
}
