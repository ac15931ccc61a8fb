//! GitHub REST API through octocrab: deployments and their statuses, environment protection,
//! branch protection and pull requests.
//!
//! Requests go through octocrab's transport (authentication, `GITHUB_API_URL` as base URI);
//! responses are decoded into the small typed models of this module so that status codes,
//! rate-limit headers and `Link` pagination are handled in one place:
//! 403 and 429 with `x-ratelimit-remaining: 0` or `retry-after` are retried a bounded number
//! of times, other 403s become [`GithubError::Forbidden`], 404 [`GithubError::NotFound`] and
//! 422 [`GithubError::Validation`]. The token is never part of an error or a log line.

mod deployments;
mod pulls;
mod settings;

use std::time::Duration;

use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use deployments::{Deployment, DeploymentState, DeploymentStatus, NewDeployment, StatusUpdate};
pub use pulls::{PullRequest, PullRequestOutcome};
pub use settings::{
    BranchSettings, EnvironmentSettings, RepoSettings, Reviewer, SettingsDifference,
    compare_settings,
};

/// Why a GitHub API call failed.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// The configuration (API URL, repository name) is unusable.
    #[error("GitHub configuration: {problem}")]
    Config {
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// 403: the token lacks a permission.
    #[error("{action}: GitHub answered 403 Forbidden ({message}); {hint}")]
    Forbidden {
        /// What was attempted.
        action: String,
        /// GitHub's message.
        message: String,
        /// What to do.
        hint: &'static str,
    },
    /// 404: the repository, branch, environment or object does not exist (or the token cannot
    /// see it).
    #[error(
        "{action}: GitHub answered 404 Not Found ({message}); check the repository name and that the token can see it"
    )]
    NotFound {
        /// What was attempted.
        action: String,
        /// GitHub's message.
        message: String,
    },
    /// 422: GitHub rejected the request body.
    #[error("{action}: GitHub rejected the request (422: {message})")]
    Validation {
        /// What was attempted.
        action: String,
        /// GitHub's message and error details.
        message: String,
    },
    /// Still rate limited after the allowed retries.
    #[error(
        "{action}: GitHub rate limit exceeded after {attempts} attempts; retry later or use a token with a higher limit"
    )]
    RateLimited {
        /// What was attempted.
        action: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Another unexpected HTTP status.
    #[error("{action}: GitHub answered {status} ({message})")]
    Status {
        /// What was attempted.
        action: String,
        /// The HTTP status code.
        status: u16,
        /// GitHub's message.
        message: String,
    },
    /// The request could not be sent or the answer not read.
    #[error("{action}: cannot reach the GitHub API")]
    Transport {
        /// What was attempted.
        action: String,
        /// octocrab's error.
        #[source]
        source: octocrab::Error,
    },
    /// The answer was not the documented JSON.
    #[error("{action}: unexpected answer from GitHub")]
    Decode {
        /// What was attempted.
        action: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

impl GithubError {
    /// Whether the error is an authorisation problem (403).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Self::Forbidden { .. })
    }
}

/// Where and how to reach GitHub.
#[derive(Clone)]
pub struct GithubConfig {
    /// REST API root (`GITHUB_API_URL`), e.g. `https://api.github.com` or
    /// `https://ghe.example.com/api/v3`.
    pub api_url: String,
    /// `owner/name`.
    pub repository: String,
    /// Bearer token.
    pub token: String,
    /// Attempts per request when rate limited (at least 1).
    pub max_attempts: u32,
    /// Longest wait between rate-limited attempts.
    pub max_wait: Duration,
}

impl std::fmt::Debug for GithubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubConfig")
            .field("api_url", &self.api_url)
            .field("repository", &self.repository)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A response: status, the `Link` next page (if any) and the body text.
struct Answer {
    next: Option<String>,
    body: String,
}

/// HTTP methods used.
#[derive(Debug, Clone, Copy)]
enum Verb {
    Get,
    Post,
    Put,
    Patch,
}

/// A client for one repository.
pub struct GithubClient {
    octo: Octocrab,
    owner: String,
    name: String,
    max_attempts: u32,
    max_wait: Duration,
}

/// Largest number of pages followed for one listing.
const MAX_PAGES: usize = 50;

impl GithubClient {
    /// Builds a client; call inside a Tokio runtime.
    pub fn new(config: &GithubConfig) -> Result<Self, GithubError> {
        let (owner, name) = config
            .repository
            .split_once('/')
            .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
            .ok_or_else(|| GithubError::Config {
                problem: format!(
                    "repository '{}' is not owner/name (set GITHUB_REPOSITORY or --repo)",
                    config.repository
                ),
            })?;
        let base = config.api_url.trim_end_matches('/');
        let octo = Octocrab::builder()
            .base_uri(base)
            .map_err(|_| GithubError::Config {
                problem: format!("GITHUB_API_URL '{base}' is not a valid URL"),
            })?
            .personal_token(config.token.clone())
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(60)))
            .build()
            .map_err(|source| GithubError::Transport {
                action: "set up the GitHub client".to_owned(),
                source,
            })?;
        Ok(Self {
            octo,
            owner: owner.to_owned(),
            name: name.to_owned(),
            max_attempts: config.max_attempts.max(1),
            max_wait: config.max_wait,
        })
    }

    /// `owner`.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// `/repos/{owner}/{name}`.
    fn repo_path(&self) -> String {
        format!("/repos/{}/{}", encode(&self.owner), encode(&self.name))
    }

    /// Sends one request with bounded retries on rate limiting; maps error statuses.
    async fn send<B: Serialize + ?Sized>(
        &self,
        verb: Verb,
        uri: &str,
        body: Option<&B>,
        action: &str,
    ) -> Result<Answer, GithubError> {
        let transport = |source| GithubError::Transport {
            action: action.to_owned(),
            source,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = match verb {
                Verb::Get => self.octo._get(uri).await,
                Verb::Post => self.octo._post(uri, body).await,
                Verb::Put => self.octo._put(uri, body).await,
                Verb::Patch => self.octo._patch(uri, body).await,
            };
            // Idempotent requests are retried on network errors and 5xx; a POST is not (it
            // may have been carried out, e.g. a deployment created).
            let retryable = !matches!(verb, Verb::Post) && attempt < self.max_attempts;
            let response = match response {
                Ok(response) => response,
                Err(_) if retryable => {
                    tokio::time::sleep(backoff(attempt).min(self.max_wait)).await;
                    continue;
                }
                Err(source) => return Err(transport(source)),
            };
            let status = response.status().as_u16();
            if status >= 500 && retryable {
                tokio::time::sleep(backoff(attempt).min(self.max_wait)).await;
                continue;
            }
            let headers = response.headers().clone();
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let next = header("link").and_then(|l| next_link(&l));
            let text = self
                .octo
                .body_to_string(response)
                .await
                .map_err(transport)?;
            if (200..300).contains(&status) {
                return Ok(Answer { next, body: text });
            }
            let rate_limited = status == 429
                || (status == 403
                    && (header("x-ratelimit-remaining").as_deref() == Some("0")
                        || header("retry-after").is_some()));
            if rate_limited {
                if attempt >= self.max_attempts {
                    return Err(GithubError::RateLimited {
                        action: action.to_owned(),
                        attempts: attempt,
                    });
                }
                let wait = rate_limit_wait(
                    header("retry-after").as_deref(),
                    header("x-ratelimit-reset").as_deref(),
                    attempt,
                )
                .min(self.max_wait);
                tokio::time::sleep(wait).await;
                continue;
            }
            let message = error_message(&text);
            let action = action.to_owned();
            return Err(match status {
                403 => GithubError::Forbidden {
                    action,
                    message,
                    hint: "the token lacks a permission for this call",
                },
                404 => GithubError::NotFound { action, message },
                422 => GithubError::Validation { action, message },
                status => GithubError::Status {
                    action,
                    status,
                    message,
                },
            });
        }
    }

    async fn json<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        verb: Verb,
        uri: &str,
        body: Option<&B>,
        action: &str,
    ) -> Result<T, GithubError> {
        let answer = self.send(verb, uri, body, action).await?;
        decode(&answer.body, action)
    }

    /// Every item of a paginated listing; `key` names the array inside a wrapping object
    /// (`environments`, `branch_policies`), `None` for a bare array.
    async fn list<T: DeserializeOwned>(
        &self,
        first: &str,
        key: Option<&str>,
        action: &str,
    ) -> Result<Vec<T>, GithubError> {
        let mut items = Vec::new();
        let mut uri = first.to_owned();
        for _ in 0..MAX_PAGES {
            let answer = self.send(Verb::Get, &uri, None::<&()>, action).await?;
            let value: serde_json::Value = decode(&answer.body, action)?;
            let array = match key {
                Some(key) => value.get(key).cloned().unwrap_or(serde_json::Value::Null),
                None => value,
            };
            if !array.is_null() {
                let page: Vec<T> =
                    serde_json::from_value(array).map_err(|source| GithubError::Decode {
                        action: action.to_owned(),
                        source,
                    })?;
                items.extend(page);
            }
            match answer.next {
                Some(next) => uri = next,
                None => return Ok(items),
            }
        }
        Ok(items)
    }
}

fn decode<T: DeserializeOwned>(body: &str, action: &str) -> Result<T, GithubError> {
    let body = if body.trim().is_empty() { "null" } else { body };
    serde_json::from_str(body).map_err(|source| GithubError::Decode {
        action: action.to_owned(),
        source,
    })
}

/// GitHub's `message` plus any `errors[].message`/`code`, or the start of the body.
fn error_message(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return body.chars().take(200).collect();
    };
    let mut message = value
        .get("message")
        .and_then(|m| m.as_str())
        .unwrap_or("no message")
        .to_owned();
    if let Some(errors) = value.get("errors").and_then(|e| e.as_array()) {
        let details: Vec<String> = errors
            .iter()
            .filter_map(|e| {
                e.get("message")
                    .or_else(|| e.get("code"))
                    .and_then(|m| m.as_str())
                    .map(str::to_owned)
                    .or_else(|| e.as_str().map(str::to_owned))
            })
            .collect();
        if !details.is_empty() {
            message.push_str(": ");
            message.push_str(&details.join("; "));
        }
    }
    message
}

/// The `rel="next"` URL of a `Link` header.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let mut pieces = part.split(';');
        let url = pieces.next()?.trim();
        let is_next = pieces.any(|p| {
            let p = p.trim();
            p == "rel=\"next\"" || p == "rel=next"
        });
        (is_next && url.starts_with('<') && url.ends_with('>'))
            .then(|| url[1..url.len() - 1].to_owned())
    })
}

/// How long to wait before retrying a rate-limited request: `retry-after` seconds, else until
/// `x-ratelimit-reset`, else exponential from one second.
fn rate_limit_wait(retry_after: Option<&str>, reset: Option<&str>, attempt: u32) -> Duration {
    if let Some(secs) = retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
        return Duration::from_secs(secs);
    }
    if let Some(reset) = reset.and_then(|v| v.trim().parse::<u64>().ok()) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        return Duration::from_secs(reset.saturating_sub(now).max(1));
    }
    backoff(attempt)
}

/// 1 s, 2 s, 4 s, ... (at most 64 s).
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(6))
}

/// Percent-encodes one path segment.
fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%2D", "-")
        .replace("%2E", ".")
        .replace("%5F", "_")
}
