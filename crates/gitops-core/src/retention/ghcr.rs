//! Retention against GitHub Container Registry through the GitHub Packages API (octocrab).
//!
//! GHCR deletes package versions, not tags: a version is one manifest digest with its tags.
//! Listing: `GET /{orgs|users}/{owner}/packages/container/{name}/versions` (Link pagination).
//! Deleting: `DELETE .../versions/{id}`. GitHub refuses to delete the last tagged version of a
//! package, and so does this backend before asking. Untagged versions are never offered to the
//! planner: the Packages API does not say which index they belong to, and deleting a
//! multi-arch image's children breaks it. Secondary rate limits (about 180 deletions a
//! minute) answer 429, or 403 with `retry-after` / `x-ratelimit-remaining: 0`: the request is
//! retried after the advertised wait (bounded).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use serde::Deserialize;

use super::executor::{Progress, Removed, Result, RetentionBackend, RetentionError};
use super::planner::{Deletion, Inventory, ManifestRecord, TagRecord};

/// The public API address.
pub const DEFAULT_API: &str = "https://api.github.com";

const MAX_PAGES: usize = 1_000;

/// Whether the package belongs to an organisation or a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerKind {
    /// `/orgs/{owner}/packages/...`.
    Org,
    /// `/users/{owner}/packages/...`.
    User,
}

/// Retention backend for one GHCR container package.
#[derive(Debug)]
pub struct GhcrBackend {
    octo: Octocrab,
    owner: String,
    kind: OwnerKind,
    package: String,
    max_attempts: u32,
    max_wait: Duration,
    requests: AtomicU64,
    /// Fresh tag -> digest map and digest -> version id, from the latest listing.
    fresh: Mutex<Option<Listing>>,
    /// Tagged versions left, so the last one is never deleted.
    tagged_left: AtomicI64,
}

#[derive(Debug, Default, Clone)]
struct Listing {
    tags: HashMap<String, String>,
    ids: HashMap<String, u64>,
}

#[derive(Debug, Deserialize)]
struct Version {
    id: u64,
    name: String,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    #[serde(default)]
    container: Option<Container>,
}

#[derive(Debug, Deserialize)]
struct Container {
    #[serde(default)]
    tags: Vec<String>,
}

impl Version {
    fn tags(&self) -> &[String] {
        self.metadata
            .as_ref()
            .and_then(|m| m.container.as_ref())
            .map_or(&[], |c| c.tags.as_slice())
    }
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl GhcrBackend {
    /// A backend for `ghcr.io/{owner}/{package}` (`package` may contain `/`); call inside a
    /// Tokio runtime. `token` needs `read:packages` and `delete:packages`.
    pub fn new(
        api: &str,
        token: &str,
        owner: &str,
        kind: OwnerKind,
        package: &str,
    ) -> Result<Self> {
        if token.trim().is_empty() {
            return Err(RetentionError::Config {
                message: "no GitHub token: set GITHUB_TOKEN (with read:packages and delete:packages, or `packages: write` in a workflow)".to_owned(),
            });
        }
        let api = api.trim_end_matches('/');
        let octo = Octocrab::builder()
            .base_uri(api)
            .map_err(|_| RetentionError::Config {
                message: format!("GitHub API address '{api}' is not a valid URL"),
            })?
            .personal_token(token.trim().to_owned())
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(60)))
            .build()
            .map_err(|err| RetentionError::Config {
                message: format!("cannot set up the GitHub client: {err}"),
            })?;
        Ok(Self {
            octo,
            owner: owner.to_owned(),
            kind,
            package: package.to_owned(),
            max_attempts: 6,
            max_wait: Duration::from_secs(120),
            requests: AtomicU64::new(0),
            fresh: Mutex::new(None),
            tagged_left: AtomicI64::new(0),
        })
    }

    /// Bounds on rate-limit retries (tests use tiny waits).
    pub fn with_retry(mut self, max_attempts: u32, max_wait: Duration) -> Self {
        self.max_attempts = max_attempts.max(1);
        self.max_wait = max_wait;
        self
    }

    fn versions_path(&self) -> String {
        let scope = match self.kind {
            OwnerKind::Org => "orgs",
            OwnerKind::User => "users",
        };
        format!(
            "/{scope}/{}/packages/container/{}/versions",
            encode(&self.owner),
            encode(&self.package)
        )
    }

    fn shown(&self) -> String {
        format!("ghcr.io/{}/{}", self.owner, self.package)
    }

    /// One request with bounded retries on (secondary) rate limits: status, Link `next`, body.
    async fn send(
        &self,
        delete: bool,
        uri: &str,
    ) -> std::result::Result<(u16, Option<String>, String), String> {
        for attempt in 1..=self.max_attempts {
            self.requests.fetch_add(1, Ordering::Relaxed);
            let response = if delete {
                self.octo._delete(uri, None::<&()>).await
            } else {
                self.octo._get(uri).await
            }
            .map_err(|e| format!("GitHub API request failed: {e}"))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let text = self
                .octo
                .body_to_string(response)
                .await
                .map_err(|e| format!("reading the GitHub API answer failed: {e}"))?;
            let limited = status == 429
                || (status == 403
                    && (header("x-ratelimit-remaining").as_deref() == Some("0")
                        || header("retry-after").is_some()));
            if !limited {
                let next = header("link").and_then(|l| crate::registry::http::next_link(&l));
                return Ok((status, next, text));
            }
            if attempt < self.max_attempts {
                let wait = header("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs)
                    .or_else(|| {
                        let reset = header("x-ratelimit-reset")?.trim().parse::<i64>().ok()?;
                        u64::try_from(reset - Utc::now().timestamp())
                            .ok()
                            .map(Duration::from_secs)
                    })
                    .unwrap_or_else(|| Duration::from_secs(1u64 << attempt.min(6)));
                tokio::time::sleep(wait.min(self.max_wait)).await;
            }
        }
        Err(format!(
            "still rate-limited by GitHub after {} attempt(s); run again later (GitHub allows roughly 180 deletions a minute)",
            self.max_attempts
        ))
    }

    async fn list_versions(&self) -> Result<Vec<Version>> {
        let fail = |message: String| RetentionError::IncompleteListing {
            repository: self.shown(),
            message,
            source: None,
        };
        let mut out = Vec::new();
        let mut uri = format!("{}?per_page=100&state=active", self.versions_path());
        for page in 1..=MAX_PAGES {
            let (status, next, text) = self.send(false, &uri).await.map_err(fail)?;
            if status != 200 {
                let hint = match status {
                    401 | 403 => "; the token needs read:packages (and delete:packages to apply)",
                    404 => {
                        "; check the owner, whether it is an org or a user, and the package name"
                    }
                    _ => "",
                };
                return Err(fail(format!(
                    "page {page} answered HTTP {status}: {}{hint}",
                    github_message(&text)
                )));
            }
            let versions: Vec<Version> = serde_json::from_str(&text)
                .map_err(|e| fail(format!("page {page} is not the documented JSON: {e}")))?;
            let empty = versions.is_empty();
            out.extend(versions);
            match next {
                Some(n) if !empty => uri = n,
                _ => return Ok(out),
            }
        }
        Err(fail(format!("more than {MAX_PAGES} pages of versions")))
    }

    fn remember(&self, versions: &[Version]) -> Listing {
        let mut listing = Listing::default();
        let mut tagged = 0;
        for v in versions {
            listing.ids.insert(v.name.clone(), v.id);
            if !v.tags().is_empty() {
                tagged += 1;
            }
            for t in v.tags() {
                listing.tags.insert(t.clone(), v.name.clone());
            }
        }
        self.tagged_left.store(tagged, Ordering::SeqCst);
        if let Ok(mut fresh) = self.fresh.lock() {
            *fresh = Some(listing.clone());
        }
        listing
    }
}

fn github_message(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| text.chars().take(200).collect())
}

impl RetentionBackend for GhcrBackend {
    fn describe(&self) -> String {
        format!("GHCR package {}", self.shown())
    }

    async fn inventory(&self, progress: &dyn Progress) -> Result<Inventory> {
        progress.start("listing versions", 1);
        let versions = self.list_versions().await?;
        progress.advance(1);
        progress.finish();
        self.remember(&versions);
        let mut tags = Vec::new();
        let mut manifests = Vec::new();
        for v in &versions {
            if v.tags().is_empty() {
                continue;
            }
            for t in v.tags() {
                tags.push(TagRecord {
                    tag: t.clone(),
                    digest: v.name.clone(),
                    pushed_at: v.created_at,
                });
            }
            manifests.push(ManifestRecord {
                digest: v.name.clone(),
                pushed_at: v.created_at,
                ..ManifestRecord::default()
            });
        }
        tags.sort_by(|a, b| a.tag.cmp(&b.tag));
        Ok(Inventory {
            repository: self.shown(),
            tags,
            manifests,
        })
    }

    async fn list_tags(&self) -> Result<Vec<String>> {
        let versions = self.list_versions().await?;
        Ok(self.remember(&versions).tags.into_keys().collect())
    }

    async fn resolve(&self, tag: &str) -> Result<Option<String>> {
        let known = self
            .fresh
            .lock()
            .ok()
            .and_then(|f| f.as_ref().map(|l| l.tags.get(tag).cloned()));
        match known {
            Some(found) => Ok(found),
            None => {
                let versions = self.list_versions().await?;
                Ok(self.remember(&versions).tags.get(tag).cloned())
            }
        }
    }

    async fn delete(&self, deletion: &Deletion) -> Result<Removed> {
        let reference = format!("{}@{}", self.shown(), deletion.digest);
        let id = self.fresh.lock().ok().and_then(|f| {
            f.as_ref()
                .and_then(|l| l.ids.get(&deletion.digest).copied())
        });
        let Some(id) = id else {
            return Ok(Removed::AlreadyGone);
        };
        let tagged = !deletion.tags.is_empty();
        if tagged && self.tagged_left.fetch_sub(1, Ordering::SeqCst) <= 1 {
            self.tagged_left.fetch_add(1, Ordering::SeqCst);
            return Err(RetentionError::Unsupported {
                backend: self.describe(),
                reference,
                message: "it is the last tagged version of the package, which GitHub does not allow deleting".to_owned(),
            });
        }
        let uri = format!("{}/{id}", self.versions_path());
        let result = self.send(true, &uri).await;
        let (status, _, text) = match result {
            Ok(answer) => answer,
            Err(message) => {
                if tagged {
                    self.tagged_left.fetch_add(1, Ordering::SeqCst);
                }
                return Err(RetentionError::Delete {
                    reference,
                    message,
                    source: None,
                });
            }
        };
        match status {
            200..=299 => Ok(Removed::Deleted),
            404 => Ok(Removed::AlreadyGone),
            _ => {
                if tagged {
                    self.tagged_left.fetch_add(1, Ordering::SeqCst);
                }
                let hint = if status == 403 {
                    "; the token needs delete:packages and admin access to the package"
                } else {
                    ""
                };
                Err(RetentionError::Delete {
                    reference,
                    message: format!("HTTP {status}: {}{hint}", github_message(&text)),
                    source: None,
                })
            }
        }
    }

    fn requests(&self) -> Option<u64> {
        Some(self.requests.load(Ordering::Relaxed))
    }
}
