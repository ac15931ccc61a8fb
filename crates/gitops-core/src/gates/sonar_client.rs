//! SonarQube Web API client (feature `http`): poll the compute task named in
//! `report-task.txt`, then read the quality gate of its analysis.

use std::time::Duration;

use super::{CeTask, CeTaskResponse, ReportTask, SonarProjectStatus, SonarProjectStatusResponse};

/// Why the SonarQube server could not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum SonarError {
    /// No answer after the retries (connection refused, DNS, timeouts, 5xx).
    #[error("SonarQube at {url} is unreachable after {attempts} attempts: {detail}")]
    Unreachable {
        /// The URL requested.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last problem.
        detail: String,
    },
    /// 401/403: the token is missing or lacks `Browse` on the project.
    #[error(
        "SonarQube at {url} refused the token ({status}); set SONAR_TOKEN to a token with Browse permission on the project"
    )]
    Unauthorized {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// Another error status (404: unknown task or analysis).
    #[error("SonarQube answered {status} for {url}: {message}")]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The server's `errors[].msg`.
        message: String,
    },
    /// The answer was not the documented JSON.
    #[error("SonarQube answered {url} with unexpected JSON")]
    Decode {
        /// The URL requested.
        url: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The analysis was still queued or running at the deadline.
    #[error(
        "the SonarQube analysis {url} was still {status} when the {timeout_seconds}s timeout ran out (gates.sonarqube.timeout)"
    )]
    Timeout {
        /// The task URL.
        url: String,
        /// Its last status.
        status: String,
        /// The timeout, in seconds.
        timeout_seconds: u64,
    },
}

impl SonarError {
    /// Whether the server could not be reached (exit 3) rather than answering no.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }
}

/// A SonarQube client.
pub struct SonarClient {
    http: reqwest::Client,
    token: Option<String>,
    /// Time between polls of a pending task.
    pub poll_interval: Duration,
    /// Attempts per request on network errors and 5xx.
    pub attempts: u32,
    /// Pause between those attempts.
    pub retry_pause: Duration,
}

impl std::fmt::Debug for SonarClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SonarClient")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("poll_interval", &self.poll_interval)
            .finish_non_exhaustive()
    }
}

impl SonarClient {
    /// A client sending `token` as the basic-auth user (SonarQube's documented scheme).
    pub fn new(token: Option<String>) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .connect_timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            token: token.filter(|t| !t.is_empty()),
            poll_interval: Duration::from_secs(2),
            attempts: 3,
            retry_pause: Duration::from_secs(2),
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, SonarError> {
        let mut detail = String::new();
        for attempt in 1..=self.attempts.max(1) {
            if attempt > 1 {
                tokio::time::sleep(self.retry_pause).await;
            }
            let mut request = self.http.get(url);
            if let Some(token) = &self.token {
                request = request.basic_auth(token, None::<&str>);
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    // reqwest errors name the URL but never the credentials.
                    detail = e.without_url().to_string();
                    continue;
                }
            };
            let status = response.status().as_u16();
            if status >= 500 {
                detail = format!("HTTP {status}");
                continue;
            }
            let text = match response.text().await {
                Ok(t) => t,
                Err(e) => {
                    detail = e.without_url().to_string();
                    continue;
                }
            };
            return match status {
                200..=299 => serde_json::from_str(&text).map_err(|source| SonarError::Decode {
                    url: url.to_owned(),
                    source,
                }),
                401 | 403 => Err(SonarError::Unauthorized {
                    url: url.to_owned(),
                    status,
                }),
                _ => Err(SonarError::Status {
                    url: url.to_owned(),
                    status,
                    message: sonar_message(&text),
                }),
            };
        }
        Err(SonarError::Unreachable {
            url: url.to_owned(),
            attempts: self.attempts.max(1),
            detail,
        })
    }

    /// Polls the compute task until it is neither PENDING nor IN_PROGRESS (at most
    /// `timeout`), then reads the quality gate of its analysis when the task succeeded.
    pub async fn wait_for_gate(
        &self,
        task: &ReportTask,
        timeout: Duration,
    ) -> Result<(CeTask, Option<SonarProjectStatus>), SonarError> {
        let started = tokio::time::Instant::now();
        let ce = loop {
            let answer: CeTaskResponse = self.get_json(&task.ce_task_url).await?;
            if !answer.task.is_pending() {
                break answer.task;
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(SonarError::Timeout {
                    url: task.ce_task_url.clone(),
                    status: answer.task.status,
                    timeout_seconds: timeout.as_secs(),
                });
            }
            // One last poll right at the deadline.
            tokio::time::sleep(self.poll_interval.min(timeout - waited)).await;
        };
        let Some(analysis) = ce.analysis_id.clone().filter(|_| ce.status == "SUCCESS") else {
            return Ok((ce, None));
        };
        let mut url = reqwest::Url::parse(&format!(
            "{}/api/qualitygates/project_status",
            task.server_url.trim_end_matches('/')
        ))
        .map_err(|e| SonarError::Status {
            url: task.server_url.clone(),
            status: 0,
            message: format!("serverUrl is not a valid URL: {e}"),
        })?;
        url.query_pairs_mut().append_pair("analysisId", &analysis);
        let status: SonarProjectStatusResponse = self.get_json(url.as_str()).await?;
        Ok((ce, Some(status.project_status)))
    }
}

fn sonar_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("errors")?.as_array().map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e.get("msg").and_then(|m| m.as_str()))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        })
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| body.chars().take(200).collect())
}
