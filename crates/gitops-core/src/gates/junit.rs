//! JUnit XML test results: any failure or error fails the gate; a report without a single
//! test case fails too (the test run most likely did not happen).

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde::{Deserialize, Serialize};

use super::{Finding, GateError, GateKind, GateOutcome};

/// One failed or errored test case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JunitCase {
    /// `classname.name`.
    pub name: String,
    /// `failure` or `error`.
    pub kind: String,
    /// The failure's `message` attribute (first line).
    pub message: Option<String>,
    /// `file` attribute of the test case (pytest, Jest and others write it).
    pub file: Option<String>,
    /// `line` attribute of the test case.
    pub line: Option<u32>,
}

/// Counts and failures of one JUnit report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JunitSummary {
    /// Test cases seen.
    pub tests: u64,
    /// Test cases with `<failure>`.
    pub failures: u64,
    /// Test cases with `<error>`.
    pub errors: u64,
    /// Test cases with `<skipped>`.
    pub skipped: u64,
    /// `failures + errors` declared on `<testsuite>` attributes (a report may declare failures
    /// without listing the cases).
    pub declared_failed: u64,
    /// The failed cases.
    pub failed_cases: Vec<JunitCase>,
}

const FORMAT: &str = "JUnit XML";

fn attr(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .map(|a| {
            a.unescape_value()
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(&a.value).into_owned())
        })
}

/// Parses a JUnit XML report (`<testsuites>` or a single `<testsuite>`).
pub fn parse_junit(text: &str, file: &str) -> Result<JunitSummary, GateError> {
    let mut reader = Reader::from_str(text);
    let mut summary = JunitSummary::default();
    let mut current: Option<JunitCase> = None;
    let mut case_failed = false;
    let mut saw_root = false;
    loop {
        let event = reader.read_event().map_err(|source| GateError::Xml {
            file: file.to_owned(),
            format: FORMAT,
            position: reader.error_position(),
            source,
        })?;
        let (e, empty) = match event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(e) if e.name().as_ref() == b"testcase" => {
                finish_case(&mut summary, current.take(), &mut case_failed);
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        if let Some(Err(err)) = e.attributes().find(Result::is_err) {
            return Err(GateError::Invalid {
                file: file.to_owned(),
                format: FORMAT,
                problem: format!(
                    "malformed attributes at byte {}: {err}",
                    reader.buffer_position()
                ),
            });
        }
        match e.name().as_ref() {
            b"testsuites" => saw_root = true,
            b"testsuite" => {
                saw_root = true;
                let count = |n: &[u8]| {
                    attr(&e, n)
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .unwrap_or(0)
                };
                summary.declared_failed += count(b"failures") + count(b"errors");
            }
            b"testcase" => {
                summary.tests += 1;
                let name = attr(&e, b"name").unwrap_or_else(|| "<unnamed>".to_owned());
                let name = match attr(&e, b"classname") {
                    Some(class) if !class.is_empty() => format!("{class}.{name}"),
                    _ => name,
                };
                let case = JunitCase {
                    name,
                    kind: String::new(),
                    message: None,
                    file: attr(&e, b"file").filter(|f| !f.is_empty()),
                    line: attr(&e, b"line").and_then(|l| l.trim().parse().ok()),
                };
                if empty {
                    let mut failed = false;
                    finish_case(&mut summary, Some(case), &mut failed);
                } else {
                    current = Some(case);
                    case_failed = false;
                }
            }
            kind @ (b"failure" | b"error") => {
                if let Some(case) = current.as_mut()
                    && !case_failed
                {
                    case_failed = true;
                    let kind = String::from_utf8_lossy(kind).into_owned();
                    if kind == "failure" {
                        summary.failures += 1;
                    } else {
                        summary.errors += 1;
                    }
                    case.kind = kind;
                    case.message = attr(&e, b"message")
                        .and_then(|m| m.lines().next().map(str::to_owned))
                        .or_else(|| attr(&e, b"type"));
                }
            }
            b"skipped" if current.is_some() => summary.skipped += 1,
            _ => {}
        }
    }
    if !saw_root {
        return Err(GateError::Invalid {
            file: file.to_owned(),
            format: FORMAT,
            problem: "no <testsuites> or <testsuite> element".to_owned(),
        });
    }
    Ok(summary)
}

fn finish_case(summary: &mut JunitSummary, case: Option<JunitCase>, failed: &mut bool) {
    if let Some(case) = case
        && *failed
    {
        summary.failed_cases.push(case);
    }
    *failed = false;
}

/// Evaluates a JUnit summary: failures or errors fail, as does a report with no test case.
pub fn evaluate_junit(summary: &JunitSummary, source: &str) -> GateOutcome {
    let failed = (summary.failures + summary.errors).max(summary.declared_failed);
    let mut reasons = Vec::new();
    if summary.tests == 0 {
        reasons.push(
            "the report has no test case: the tests did not run or wrote their results elsewhere"
                .to_owned(),
        );
    }
    if failed > summary.failures + summary.errors {
        reasons.push(format!(
            "the report declares {} failed tests but lists {}",
            summary.declared_failed,
            summary.failures + summary.errors
        ));
    }
    let findings: Vec<Finding> = summary
        .failed_cases
        .iter()
        .map(|c| Finding {
            message: format!(
                "{} {}{}",
                c.name,
                if c.kind == "error" {
                    "errored"
                } else {
                    "failed"
                },
                c.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
            id: Some(c.name.clone()),
            file: c.file.clone(),
            line: c.line,
        })
        .collect();
    let passed = failed == 0 && summary.tests > 0;
    GateOutcome {
        gate: GateKind::Tests,
        source: source.to_owned(),
        passed,
        summary: format!(
            "{} tests, {} failures, {} errors, {} skipped",
            summary.tests, summary.failures, summary.errors, summary.skipped
        ),
        reasons,
        findings,
    }
}
