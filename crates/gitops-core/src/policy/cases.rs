//! Table-driven policy tests (`gitops policy test FILE`): each case is an event in and the
//! expected environment, stages, tags and approval out, so teams can unit-test their
//! pipeline policy without writing Rust.
//!
//! ```yaml
//! cases:
//!   - name: merge to dev deploys to development
//!     event: { event: push, branch: dev, sha: 860c1904a1ce19322e91ac35af1ab07466440c37, time: 2025-12-03T12:00:00Z }
//!     expect:
//!       environment: development
//!       stages: [secret_scan, lint_test, quality, build, image_scan, push, deploy]
//!       tags: [dev-860c190-20251203-120000, dev-latest]
//!       approval: false
//!   - name: feature branches only get checks
//!     event: { event: pull_request, branch: feature/login, base: dev }
//!     expect: { environment: null, stages: [secret_scan, lint_test, quality] }
//! ```
//!
//! Only the fields written under `expect` are compared. `sha` defaults to forty zeros and
//! `time` to 1970-01-01T00:00:00Z.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::event::{Event, EventError, EventFlags, parse_time};
use crate::plan::{PlanError, flow_name, plan};
use crate::policy::Policy;

/// Sha used when a case gives none.
pub const DEFAULT_SHA: &str = "0000000000000000000000000000000000000000";

/// A test file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// The cases, run in order.
    pub cases: Vec<Case>,
}

/// One case: an event and what the plan must say about it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Name shown in the report.
    pub name: String,
    /// The event, as the `gitops plan` flags describe it.
    pub event: CaseEvent,
    /// Expected results; absent fields are not checked.
    #[serde(default)]
    pub expect: Expect,
}

/// An event in a test case.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseEvent {
    /// `push` (default), `pull_request`, `pull_request_target`, `workflow_dispatch`, `schedule`.
    #[serde(default)]
    pub event: Option<String>,
    /// Pushed branch, or the PR's head branch.
    #[serde(default)]
    pub branch: Option<String>,
    /// PR base branch.
    #[serde(default)]
    pub base: Option<String>,
    /// Git tag of a tag push.
    #[serde(default)]
    pub tag: Option<String>,
    /// Commit sha. Default: forty zeros.
    #[serde(default)]
    pub sha: Option<String>,
    /// Time stamped into tags (RFC 3339). Default: 1970-01-01T00:00:00Z.
    #[serde(default)]
    pub time: Option<String>,
    /// Environment requested by a dispatch.
    #[serde(default)]
    pub environment: Option<String>,
}

/// Expected plan fields.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Target environment; `null` means none.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub environment: Option<Option<String>>,
    /// Exactly the stages that run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<String>>,
    /// Exactly the tags produced, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Whether approval is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<bool>,
    /// Replica count; `null` means none.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub replicas: Option<Option<u32>>,
    /// Flow name (`pull_request`, `deploy`, `checks_only`, `release`, `scheduled`, `none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// Promotion source environment; `null` means none.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub promote_from: Option<Option<String>>,
    /// The planning error's message must contain this text (the case expects a failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Distinguishes "absent" (`None`) from "null" (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// One field that differed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// Field name.
    pub field: String,
    /// Expected value, as YAML-ish text.
    pub expected: String,
    /// Actual value.
    pub actual: String,
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseResult {
    /// Case name.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What differed.
    pub mismatches: Vec<Mismatch>,
}

/// Why a test file could not be run.
#[derive(Debug, thiserror::Error)]
pub enum CasesError {
    /// The file does not parse.
    #[error("{origin}{location}: {message}")]
    Parse {
        /// File name.
        origin: String,
        /// `:line:column` when known.
        location: String,
        /// What is wrong.
        message: String,
        /// The parser's error.
        #[source]
        source: serde_norway::Error,
    },
    /// A case's event is invalid.
    #[error("{origin}: case '{case}': {source}")]
    Event {
        /// File name.
        origin: String,
        /// Case name.
        case: String,
        /// The event error.
        #[source]
        source: Box<EventError>,
    },
}

impl CaseFile {
    /// Parses a test file.
    pub fn parse(text: &str, origin: &str) -> Result<Self, CasesError> {
        serde_norway::from_str(text).map_err(|source| CasesError::Parse {
            origin: origin.to_owned(),
            location: source
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default(),
            message: source.to_string().replace('`', "'"),
            source,
        })
    }

    /// Runs every case against `policy`.
    pub fn run(&self, policy: &Policy, origin: &str) -> Result<Vec<CaseResult>, CasesError> {
        self.cases
            .iter()
            .map(|case| run_case(policy, case, origin))
            .collect()
    }
}

fn show_opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| "null".to_owned())
}

fn show_list(v: &[String]) -> String {
    format!("[{}]", v.join(", "))
}

fn run_case(policy: &Policy, case: &Case, origin: &str) -> Result<CaseResult, CasesError> {
    let ev = &case.event;
    let wrap = |source| CasesError::Event {
        origin: origin.to_owned(),
        case: case.name.clone(),
        source: Box::new(source),
    };
    let event = Event::from_flags(&EventFlags {
        event: ev.event.clone(),
        branch: ev.branch.clone(),
        base: ev.base.clone(),
        tag: ev.tag.clone(),
        sha: Some(ev.sha.clone().unwrap_or_else(|| DEFAULT_SHA.to_owned())),
        time: None,
        environment: ev.environment.clone(),
    })
    .map_err(wrap)?;
    let time: DateTime<Utc> = match &ev.time {
        Some(t) => parse_time(t, "time").map_err(wrap)?,
        None => DateTime::UNIX_EPOCH,
    };
    let mut mismatches = Vec::new();
    let mut check = |field: &str, expected: String, actual: String| {
        if expected != actual {
            mismatches.push(Mismatch {
                field: field.to_owned(),
                expected,
                actual,
            });
        }
    };
    let exp = &case.expect;
    match plan(policy, &event, time, None) {
        Err(err) => {
            let text = error_text(&err);
            match &exp.error {
                Some(want) if text.contains(want.as_str()) => {}
                Some(want) => check("error", format!("an error containing '{want}'"), text),
                None => check("plan", "a plan".to_owned(), format!("error: {text}")),
            }
        }
        Ok(plan) => {
            if let Some(want) = &exp.error {
                check(
                    "error",
                    format!("an error containing '{want}'"),
                    "a plan".to_owned(),
                );
            }
            if let Some(want) = &exp.flow {
                check("flow", want.clone(), flow_name(plan.flow).to_owned());
            }
            if let Some(want) = &exp.environment {
                check("environment", show_opt(want), show_opt(&plan.environment));
            }
            if let Some(want) = &exp.stages {
                let known: Vec<&str> = plan.stages.iter().iter().map(|(n, _)| *n).collect();
                for name in want.iter().filter(|n| !known.contains(&n.as_str())) {
                    check(
                        "stages",
                        format!(
                            "known stage names{}",
                            crate::policy::validate::suggest(name, &known)
                        ),
                        format!("unknown stage '{name}'"),
                    );
                }
                let actual: Vec<String> = plan
                    .stages
                    .running()
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                let mut sorted_want = want.clone();
                // Order-insensitive: compare in pipeline order.
                let order = |s: &String| {
                    plan.stages
                        .iter()
                        .iter()
                        .position(|(n, _)| n == s)
                        .unwrap_or(usize::MAX)
                };
                sorted_want.sort_by_key(order);
                check("stages", show_list(&sorted_want), show_list(&actual));
            }
            if let Some(want) = &exp.tags {
                check("tags", show_list(want), show_list(&plan.tags));
            }
            if let Some(want) = exp.approval {
                check(
                    "approval",
                    want.to_string(),
                    plan.approval_required.to_string(),
                );
            }
            if let Some(want) = &exp.replicas {
                check("replicas", show_opt(want), show_opt(&plan.replicas));
            }
            if let Some(want) = &exp.promote_from {
                check(
                    "promote_from",
                    show_opt(want),
                    show_opt(&plan.promotion.as_ref().map(|p| p.from_environment.clone())),
                );
            }
        }
    }
    Ok(CaseResult {
        name: case.name.clone(),
        passed: mismatches.is_empty(),
        mismatches,
    })
}

fn error_text(err: &PlanError) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}
