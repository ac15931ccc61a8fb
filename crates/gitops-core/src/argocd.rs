//! Argo CD application status: whether an application is Synced and Healthy at the expected
//! revision (pure), and a REST client for `GET /api/v1/applications/{name}` (feature `http`).

use serde::{Deserialize, Serialize};

/// The parts of an Argo CD `Application` a deployment check reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgoApplication {
    /// `status` of the application.
    #[serde(default)]
    pub status: ArgoAppStatus,
}

/// `status` of an application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgoAppStatus {
    /// Sync state.
    #[serde(default)]
    pub sync: ArgoSync,
    /// Health state.
    #[serde(default)]
    pub health: ArgoHealth,
    /// The last sync operation, if any.
    #[serde(default)]
    pub operation_state: Option<ArgoOperationState>,
}

/// `status.sync`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgoSync {
    /// `Synced`, `OutOfSync`, `Unknown`.
    #[serde(default)]
    pub status: Option<String>,
    /// Revision synced (single-source applications).
    #[serde(default)]
    pub revision: Option<String>,
    /// Revisions synced (multi-source applications).
    #[serde(default)]
    pub revisions: Option<Vec<String>>,
}

/// `status.health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgoHealth {
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing`, `Unknown`.
    #[serde(default)]
    pub status: Option<String>,
    /// Why, when not healthy.
    #[serde(default)]
    pub message: Option<String>,
}

/// `status.operationState`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgoOperationState {
    /// `Running`, `Succeeded`, `Failed`, `Error`, `Terminating`.
    #[serde(default)]
    pub phase: Option<String>,
    /// Message of the operation.
    #[serde(default)]
    pub message: Option<String>,
}

/// The verdict on an application's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgoVerdict {
    /// Synced, Healthy and at the expected revision.
    pub ready: bool,
    /// One line: `sync Synced, health Healthy, revision abc1234`.
    pub summary: String,
}

impl ArgoApplication {
    /// Whether the application is Synced and Healthy at `expected_revision` (a full SHA or a
    /// prefix of at least 7 characters; `None` accepts any revision).
    pub fn verdict(&self, expected_revision: Option<&str>) -> ArgoVerdict {
        let sync = self.status.sync.status.as_deref().unwrap_or("Unknown");
        let health = self.status.health.status.as_deref().unwrap_or("Unknown");
        let mut revisions: Vec<&str> = self
            .status
            .sync
            .revision
            .iter()
            .map(String::as_str)
            .collect();
        revisions.extend(
            self.status
                .sync
                .revisions
                .iter()
                .flatten()
                .map(String::as_str),
        );
        let at_revision = match expected_revision.map(str::trim).filter(|r| !r.is_empty()) {
            None => true,
            Some(want) => revisions.iter().any(|have| {
                have.eq_ignore_ascii_case(want)
                    || (want.len() >= 7
                        && have.len() >= want.len()
                        && have.is_char_boundary(want.len())
                        && have[..want.len()].eq_ignore_ascii_case(want))
            }),
        };
        let mut summary = format!(
            "sync {sync}, health {health}, revision {}",
            if revisions.is_empty() {
                "unknown".to_owned()
            } else {
                revisions.join(",")
            }
        );
        if let Some(want) = expected_revision
            && !at_revision
        {
            summary.push_str(&format!(" (expected {want})"));
        }
        if let Some(message) = self
            .status
            .health
            .message
            .as_deref()
            .filter(|_| health != "Healthy")
        {
            summary.push_str(&format!(": {message}"));
        }
        if let Some(op) = &self.status.operation_state
            && matches!(op.phase.as_deref(), Some("Failed" | "Error"))
        {
            summary.push_str(&format!(
                "; last sync {}: {}",
                op.phase.as_deref().unwrap_or("?"),
                op.message.as_deref().unwrap_or("")
            ));
        }
        ArgoVerdict {
            ready: sync == "Synced" && health == "Healthy" && at_revision,
            summary,
        }
    }
}

/// Why Argo CD could not be asked.
#[cfg(feature = "http")]
#[derive(Debug, thiserror::Error)]
pub enum ArgoError {
    /// The server could not be reached or answered 5xx.
    #[error("Argo CD at {url} is unreachable: {detail}")]
    Unreachable {
        /// The URL requested.
        url: String,
        /// What happened.
        detail: String,
    },
    /// 401/403: token missing, expired or without `applications, get`.
    #[error(
        "Argo CD refused the token for {url} ({status}); set ARGOCD_TOKEN to a token allowed to get the application"
    )]
    Unauthorized {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// 404 or another status.
    #[error("Argo CD answered {status} for {url}: {message}")]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// Argo CD's message.
        message: String,
    },
    /// The answer was not an Application.
    #[error("Argo CD answered {url} with unexpected JSON")]
    Decode {
        /// The URL requested.
        url: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

/// A client for one Argo CD server.
#[cfg(feature = "http")]
pub struct ArgoClient {
    http: reqwest::Client,
    server: String,
    token: Option<String>,
}

#[cfg(feature = "http")]
impl std::fmt::Debug for ArgoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArgoClient")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "http")]
impl ArgoClient {
    /// A client for `server` (e.g. `https://argocd.example.com`) sending `token` as bearer.
    pub fn new(server: &str, token: Option<String>) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(20))
                .build()
                .unwrap_or_default(),
            server: server.trim_end_matches('/').to_owned(),
            token: token.filter(|t| !t.is_empty()),
        }
    }

    /// `GET /api/v1/applications/{name}`.
    pub async fn application(&self, name: &str) -> Result<ArgoApplication, ArgoError> {
        let url = format!(
            "{}/api/v1/applications/{}",
            self.server,
            percent_encode(name)
        );
        let mut request = self.http.get(&url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| ArgoError::Unreachable {
            url: url.clone(),
            detail: e.without_url().to_string(),
        })?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| ArgoError::Unreachable {
            url: url.clone(),
            detail: e.without_url().to_string(),
        })?;
        match status {
            200..=299 => {
                serde_json::from_str(&text).map_err(|source| ArgoError::Decode { url, source })
            }
            401 | 403 => Err(ArgoError::Unauthorized { url, status }),
            500.. => Err(ArgoError::Unreachable {
                url,
                detail: format!("HTTP {status}"),
            }),
            _ => Err(ArgoError::Status {
                url,
                status,
                message: serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
                    .unwrap_or_else(|| text.chars().take(200).collect()),
            }),
        }
    }
}

#[cfg(feature = "http")]
fn percent_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
