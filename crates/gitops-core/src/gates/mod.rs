//! Quality gates: parsers for scanner and test reports, and their evaluation against the
//! policy's `gates`.
//!
//! Pure: every function takes the report text (read by the caller) and, where time matters,
//! `now`. Each evaluation yields a [`GateOutcome`]; a report that cannot be read or parsed fails
//! its gate with a message naming the file ([`GateOutcome::unreadable`]): gates fail closed.

mod allowlist;
mod coverage;
mod gitleaks;
mod junit;
mod report;
mod sonar;
#[cfg(feature = "http")]
mod sonar_client;
mod trivy;

pub use allowlist::{Allowlist, AllowlistEntry};
pub use coverage::{CoverageFormat, CoverageSummary, evaluate_coverage, parse_coverage};
pub use gitleaks::{GitleaksFinding, evaluate_gitleaks, parse_gitleaks};
pub use junit::{JunitCase, JunitSummary, evaluate_junit, parse_junit};
pub use report::{Finding, GateKind, GateOutcome, GateReport};
pub use sonar::{
    CeTask, CeTaskResponse, ReportTask, SonarCondition, SonarProjectStatus,
    SonarProjectStatusResponse, evaluate_sonar, parse_report_task,
};
#[cfg(feature = "http")]
pub use sonar_client::{SonarClient, SonarError};
pub use trivy::{TrivyReport, TrivyResult, TrivyVulnerability, evaluate_trivy, parse_trivy};

/// Why a report could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The file is not valid JSON of the expected shape.
    #[error("{file}: not a valid {format} report: {source}")]
    Json {
        /// The report file.
        file: String,
        /// Which report format was expected.
        format: &'static str,
        /// The JSON error (line and column).
        #[source]
        source: serde_json::Error,
    },
    /// The file is not well-formed XML.
    #[error("{file}: not a valid {format} report: malformed XML at byte {position}: {source}")]
    Xml {
        /// The report file.
        file: String,
        /// Which report format was expected.
        format: &'static str,
        /// Byte offset of the error.
        position: u64,
        /// The XML error.
        #[source]
        source: quick_xml::Error,
    },
    /// The report is well-formed but lacks something the gate needs.
    #[error("{file}: not a valid {format} report: {problem}")]
    Invalid {
        /// The report file.
        file: String,
        /// Which report format was expected.
        format: &'static str,
        /// What is missing or wrong, and what to do.
        problem: String,
    },
    /// The allow-list file is not valid YAML of the documented shape.
    #[error(
        "{file}: invalid allow-list: {source}; expected `vulnerabilities: [{{id, reason, expires: YYYY-MM-DD}}]`"
    )]
    Allowlist {
        /// The allow-list file.
        file: String,
        /// The YAML error.
        #[source]
        source: serde_norway::Error,
    },
}
