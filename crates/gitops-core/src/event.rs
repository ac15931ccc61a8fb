//! What triggered the pipeline: a branch or tag push, a pull request, a manual dispatch or a
//! schedule, read from the GitHub Actions environment, from command-line flags, or from a
//! local checkout.
//!
//! Everything here is pure: the binary gathers the environment variables, the event JSON
//! text and the flags, and passes them in.
//!
//! GitHub pitfalls handled here (see the module tests):
//! - branches come from `GITHUB_REF` (`refs/heads/<b>`), never from `GITHUB_REF_NAME`, which is
//!   `<n>/merge` on pull requests;
//! - on `pull_request` `GITHUB_SHA` is GitHub's merge commit and on `pull_request_target` the
//!   base commit: the sha is read from `pull_request.head.sha` in the event JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::tag::validate_sha;

/// The kind of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A push of a branch or a tag.
    Push,
    /// A pull request (checks run on the PR head).
    PullRequest,
    /// A `pull_request_target` event (runs in the base repository's context).
    PullRequestTarget,
    /// A manual run (`workflow_dispatch`).
    WorkflowDispatch,
    /// A scheduled run.
    Schedule,
}

impl EventKind {
    /// The GitHub event name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::PullRequest => "pull_request",
            Self::PullRequestTarget => "pull_request_target",
            Self::WorkflowDispatch => "workflow_dispatch",
            Self::Schedule => "schedule",
        }
    }

    /// Whether this is a pull request event of either kind.
    pub fn is_pull_request(self) -> bool {
        matches!(self, Self::PullRequest | Self::PullRequestTarget)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = EventError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "push" => Self::Push,
            "pull_request" | "pr" => Self::PullRequest,
            "pull_request_target" => Self::PullRequestTarget,
            "workflow_dispatch" | "dispatch" => Self::WorkflowDispatch,
            "schedule" => Self::Schedule,
            other => {
                return Err(EventError::UnsupportedEvent {
                    name: other.to_owned(),
                });
            }
        })
    }
}

/// A pipeline trigger, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The branch: the pushed branch, the PR's head branch, or the branch a dispatch or
    /// schedule ran on. `None` for tag pushes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The pull request's base (target) branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The git tag of a tag push (`v1.2.3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The commit to build or check, lower-case hex.
    pub sha: String,
    /// The commit's time, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_time: Option<DateTime<Utc>>,
    /// Pull request number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_number: Option<u64>,
    /// A push that deleted the branch or tag (nothing to build).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Environment requested explicitly (a `workflow_dispatch` input named `environment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

/// Why an event could not be determined.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The event name is not one the pipeline handles.
    #[error(
        "unsupported event '{name}'; expected push, pull_request, pull_request_target, workflow_dispatch or schedule"
    )]
    UnsupportedEvent {
        /// The name given.
        name: String,
    },
    /// A required variable or flag is missing.
    #[error("{what} is missing: {help}")]
    Missing {
        /// What is missing.
        what: String,
        /// How to provide it.
        help: String,
    },
    /// The event JSON is not valid JSON (missing or truncated file).
    #[error(
        "event JSON from {origin} is not valid JSON (line {line}, column {column}): {source}; GitHub writes it to $GITHUB_EVENT_PATH"
    )]
    InvalidJson {
        /// Where the JSON came from.
        origin: String,
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A field of the event JSON is missing or has the wrong type.
    #[error("event JSON from {origin} lacks {field} (needed for a {kind} event)")]
    MissingField {
        /// Where the JSON came from.
        origin: String,
        /// JSON path of the field.
        field: String,
        /// Event kind.
        kind: EventKind,
    },
    /// `GITHUB_REF` has a form we do not understand.
    #[error(
        "cannot read a branch or tag from GITHUB_REF='{value}' (expected refs/heads/<branch> or refs/tags/<tag>)"
    )]
    InvalidRef {
        /// The value.
        value: String,
    },
    /// The commit sha is malformed.
    #[error("{source} (from {origin})")]
    InvalidSha {
        /// Where the sha came from.
        origin: String,
        /// The tag module's error.
        #[source]
        source: crate::tag::TagError,
    },
    /// A time is not RFC 3339.
    #[error("invalid time '{value}' from {origin}: expected RFC 3339, e.g. 2025-12-03T12:00:00Z")]
    InvalidTime {
        /// Where it came from.
        origin: String,
        /// The text.
        value: String,
        /// The parser's error.
        #[source]
        source: chrono::ParseError,
    },
    /// Flags that do not fit together.
    #[error("{message}")]
    Conflict {
        /// What does not fit.
        message: String,
    },
}

/// An event described by command-line flags (`--event push --branch dev --sha ...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFlags {
    /// `--event`; default `push`.
    pub event: Option<String>,
    /// `--branch`: the pushed branch, or a PR's head branch.
    pub branch: Option<String>,
    /// `--base`: a PR's base branch.
    pub base: Option<String>,
    /// `--tag`: the git tag of a tag push.
    pub tag: Option<String>,
    /// `--sha`.
    pub sha: Option<String>,
    /// `--time` (RFC 3339), recorded as the commit time.
    pub time: Option<String>,
    /// `--environment` for a dispatch.
    pub environment: Option<String>,
}

/// What a local checkout says about HEAD (the binary reads it with git2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalHead {
    /// Current branch (`None` when detached).
    pub branch: Option<String>,
    /// HEAD commit sha.
    pub sha: String,
    /// HEAD commit time.
    pub commit_time: Option<DateTime<Utc>>,
}

fn missing(what: &str, help: &str) -> EventError {
    EventError::Missing {
        what: what.to_owned(),
        help: help.to_owned(),
    }
}

fn check_sha(sha: &str, origin: &str) -> Result<String, EventError> {
    validate_sha(sha.trim()).map_err(|source| EventError::InvalidSha {
        origin: origin.to_owned(),
        source,
    })
}

/// Parses an RFC 3339 time.
pub fn parse_time(value: &str, origin: &str) -> Result<DateTime<Utc>, EventError> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|source| EventError::InvalidTime {
            origin: origin.to_owned(),
            value: value.to_owned(),
            source,
        })
}

fn clean(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl Event {
    /// The event described by flags. `--event` defaults to `push`; a push needs `--branch` or
    /// `--tag`; a pull request needs `--branch` (head) and `--base`.
    ///
    /// ```
    /// use gitops_core::event::{Event, EventFlags, EventKind};
    /// let event = Event::from_flags(&EventFlags {
    ///     event: Some("push".into()),
    ///     branch: Some("dev".into()),
    ///     sha: Some("860c1904a1ce19322e91ac35af1ab07466440c37".into()),
    ///     ..EventFlags::default()
    /// }).unwrap();
    /// assert_eq!(event.kind, EventKind::Push);
    /// assert_eq!(event.branch.as_deref(), Some("dev"));
    /// ```
    pub fn from_flags(flags: &EventFlags) -> Result<Self, EventError> {
        let kind: EventKind = flags.event.as_deref().unwrap_or("push").parse()?;
        let sha = flags
            .sha
            .as_deref()
            .ok_or_else(|| missing("--sha", "give the commit as --sha <40 hex>"))?;
        let sha = check_sha(sha, "--sha")?;
        let commit_time = flags
            .time
            .as_deref()
            .map(|t| parse_time(t, "--time"))
            .transpose()?;
        let branch = clean(flags.branch.as_deref()).map(|b| strip_heads(&b).to_owned());
        let base = clean(flags.base.as_deref()).map(|b| strip_heads(&b).to_owned());
        let tag = clean(flags.tag.as_deref())
            .map(|t| t.strip_prefix("refs/tags/").unwrap_or(&t).to_owned());
        match kind {
            EventKind::Push if branch.is_some() && tag.is_some() => {
                return Err(EventError::Conflict {
                    message: "a push is of a branch or of a tag: give --branch or --tag, not both"
                        .to_owned(),
                });
            }
            EventKind::Push if branch.is_none() && tag.is_none() => {
                return Err(missing(
                    "--branch or --tag",
                    "say what was pushed, e.g. --branch dev or --tag v1.2.3",
                ));
            }
            EventKind::PullRequest | EventKind::PullRequestTarget if base.is_none() => {
                return Err(missing(
                    "--base",
                    "give the pull request's target branch, e.g. --base dev",
                ));
            }
            _ => {}
        }
        Ok(Self {
            kind,
            branch,
            base,
            tag,
            sha,
            commit_time,
            pr_number: None,
            deleted: false,
            environment: clean(flags.environment.as_deref()),
        })
    }

    /// The event of a GitHub Actions run: `env` holds the runner's variables
    /// (`GITHUB_EVENT_NAME`, `GITHUB_REF`, `GITHUB_SHA`, ...), `event_json` the text of the
    /// file `$GITHUB_EVENT_PATH` names (required for pull requests).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use gitops_core::event::Event;
    /// let env = BTreeMap::from([
    ///     ("GITHUB_EVENT_NAME".to_owned(), "pull_request".to_owned()),
    ///     ("GITHUB_REF".to_owned(), "refs/pull/7/merge".to_owned()),
    ///     ("GITHUB_REF_NAME".to_owned(), "7/merge".to_owned()),
    ///     ("GITHUB_SHA".to_owned(), "0000000000000000000000000000000000000001".to_owned()),
    /// ]);
    /// let json = r#"{"number": 7, "pull_request": {"head": {"sha": "860c1904a1ce19322e91ac35af1ab07466440c37", "ref": "feature/x"}, "base": {"ref": "dev"}}}"#;
    /// let event = Event::from_github(&env, Some(json)).unwrap();
    /// assert_eq!(event.sha, "860c1904a1ce19322e91ac35af1ab07466440c37");
    /// assert_eq!(event.base.as_deref(), Some("dev"));
    /// assert_eq!(event.branch.as_deref(), Some("feature/x"));
    /// ```
    pub fn from_github(
        env: &BTreeMap<String, String>,
        event_json: Option<&str>,
    ) -> Result<Self, EventError> {
        let var = |name: &str| clean(env.get(name).map(String::as_str));
        let name = var("GITHUB_EVENT_NAME").ok_or_else(|| {
            missing(
                "GITHUB_EVENT_NAME",
                "run inside GitHub Actions, or describe the event with --event/--branch/--sha",
            )
        })?;
        let kind: EventKind = name.parse()?;
        let origin = var("GITHUB_EVENT_PATH").unwrap_or_else(|| "the event payload".to_owned());
        let payload: Option<serde_json::Value> = match event_json {
            Some(text) => {
                Some(
                    serde_json::from_str(text).map_err(|source| EventError::InvalidJson {
                        origin: origin.clone(),
                        line: source.line(),
                        column: source.column(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        let field = |path: &[&str]| -> Option<&serde_json::Value> {
            let mut v = payload.as_ref()?;
            for key in path {
                v = v.get(key)?;
            }
            Some(v)
        };
        let str_field = |path: &[&str]| field(path).and_then(|v| v.as_str()).map(str::to_owned);
        let need = |path: &[&str]| {
            str_field(path)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| EventError::MissingField {
                    origin: origin.clone(),
                    field: path.join("."),
                    kind,
                })
        };

        if kind.is_pull_request() {
            if payload.is_none() {
                return Err(missing(
                    "the event JSON",
                    "pull request events need $GITHUB_EVENT_PATH (pull_request.head.sha)",
                ));
            }
            let sha = check_sha(
                &need(&["pull_request", "head", "sha"])?,
                "pull_request.head.sha",
            )?;
            let base = need(&["pull_request", "base", "ref"])?;
            let head =
                str_field(&["pull_request", "head", "ref"]).or_else(|| var("GITHUB_HEAD_REF"));
            let number = field(&["number"])
                .or_else(|| field(&["pull_request", "number"]))
                .and_then(serde_json::Value::as_u64);
            return Ok(Self {
                kind,
                branch: head,
                base: Some(base),
                tag: None,
                sha,
                commit_time: None,
                pr_number: number,
                deleted: false,
                environment: None,
            });
        }

        let git_ref = var("GITHUB_REF")
            .or_else(|| str_field(&["ref"]))
            .ok_or_else(|| {
                missing(
                    "GITHUB_REF",
                    "GitHub sets it on every run; set it when simulating one",
                )
            })?;
        let (branch, tag) = if let Some(b) = git_ref.strip_prefix("refs/heads/") {
            (Some(b.to_owned()), None)
        } else if let Some(t) = git_ref.strip_prefix("refs/tags/") {
            (None, Some(t.to_owned()))
        } else {
            return Err(EventError::InvalidRef { value: git_ref });
        };
        let deleted = field(&["deleted"]).and_then(serde_json::Value::as_bool) == Some(true);
        let sha_text = var("GITHUB_SHA")
            .or_else(|| str_field(&["after"]))
            .or_else(|| str_field(&["head_commit", "id"]))
            .ok_or_else(|| missing("GITHUB_SHA", "GitHub sets it on every run"))?;
        let sha = check_sha(&sha_text, "GITHUB_SHA")?;
        let commit_time = match str_field(&["head_commit", "timestamp"]) {
            Some(t) => Some(parse_time(&t, "head_commit.timestamp")?),
            None => None,
        };
        let environment = if kind == EventKind::WorkflowDispatch {
            str_field(&["inputs", "environment"]).filter(|e| !e.trim().is_empty())
        } else {
            None
        };
        Ok(Self {
            kind,
            branch,
            base: None,
            tag,
            sha,
            commit_time,
            pr_number: None,
            deleted,
            environment,
        })
    }

    /// A push of the checked-out branch, from what the local repository says about HEAD.
    pub fn from_local(head: &LocalHead) -> Result<Self, EventError> {
        let sha = check_sha(&head.sha, "the local HEAD")?;
        let branch = head.branch.clone().ok_or_else(|| {
            missing(
                "a branch",
                "HEAD is detached: check out a branch, or pass --event/--branch/--sha",
            )
        })?;
        Ok(Self {
            kind: EventKind::Push,
            branch: Some(branch),
            base: None,
            tag: None,
            sha,
            commit_time: head.commit_time,
            pr_number: None,
            deleted: false,
            environment: None,
        })
    }

    /// The first seven characters of the sha.
    pub fn sha7(&self) -> &str {
        self.sha.get(..7).unwrap_or(&self.sha)
    }
}

fn strip_heads(branch: &str) -> &str {
    branch.strip_prefix("refs/heads/").unwrap_or(branch)
}

/// Reads HEAD of a local checkout (the `git` feature; the pure core never touches git).
#[cfg(feature = "git")]
pub mod local {
    use std::path::Path;

    use chrono::DateTime;

    use super::LocalHead;

    /// Why the local checkout could not be read.
    #[derive(Debug, thiserror::Error)]
    pub enum LocalGitError {
        /// Not a git repository, or HEAD unborn.
        #[error(
            "cannot read HEAD of the git repository at {path}: {source}; run inside a checkout or describe the event with --event/--branch/--sha"
        )]
        Head {
            /// Where we looked.
            path: String,
            /// libgit2's error.
            #[source]
            source: git2::Error,
        },
    }

    /// HEAD's branch, sha and commit time in the repository containing `dir`.
    pub fn read_head(dir: &Path) -> Result<LocalHead, LocalGitError> {
        let wrap = |source| LocalGitError::Head {
            path: dir.display().to_string(),
            source,
        };
        let repo = git2::Repository::discover(dir).map_err(wrap)?;
        let head = repo.head().map_err(wrap)?;
        let commit = head.peel_to_commit().map_err(wrap)?;
        let branch = if head.is_branch() {
            head.shorthand().ok().map(str::to_owned)
        } else {
            None
        };
        Ok(LocalHead {
            branch,
            sha: commit.id().to_string(),
            commit_time: DateTime::from_timestamp(commit.time().seconds(), 0),
        })
    }

    /// The fetch URL of the `origin` remote, with any credentials removed.
    pub fn origin_url(dir: &Path) -> Option<String> {
        let repo = git2::Repository::discover(dir).ok()?;
        let remote = repo.find_remote("origin").ok()?;
        let url = remote.url().ok()?.to_owned();
        Some(strip_credentials(&url))
    }

    /// `https://user:token@host/x` -> `https://host/x`; other forms unchanged.
    pub(crate) fn strip_credentials(url: &str) -> String {
        let Some((scheme, rest)) = url.split_once("://") else {
            return url.to_owned();
        };
        let authority_end = rest.find('/').unwrap_or(rest.len());
        match rest[..authority_end].rfind('@') {
            Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
            None => url.to_owned(),
        }
    }

    /// The tree hash of a commit, when the repository containing `dir` has it.
    pub fn tree_of(dir: &Path, sha: &str) -> Option<String> {
        let repo = git2::Repository::discover(dir).ok()?;
        let object = repo.revparse_single(sha).ok()?;
        let commit = object.peel_to_commit().ok()?;
        Some(commit.tree_id().to_string())
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn credentials_are_stripped() {
            for (url, want) in [
                (
                    "https://u:p@github.com/a/b.git",
                    "https://github.com/a/b.git",
                ),
                ("https://u:p@host", "https://host"),
                ("https://host/a@b", "https://host/a@b"),
                ("git@github.com:a/b.git", "git@github.com:a/b.git"),
            ] {
                assert_eq!(super::strip_credentials(url), want);
            }
        }
    }
}
