//! Retention against the DigitalOcean Container Registry API (`api.digitalocean.com/v2`).
//!
//! Listing: `GET /v2/registries/{registry}/repositories/{repository}/tags` pages (each tag
//! with its manifest digest, size and update time). Re-checking before deletes lists the tags
//! again (the API has no single-tag lookup); [`RetentionBackend::resolve`] answers from the
//! freshest listing. Deleting: `DELETE .../digests/{digest}` (removes the manifest and its
//! tags), then optionally `POST /v2/registries/{registry}/garbage-collection` so the space is
//! really freed. Repository names are URL-encoded (`team/api` -> `team%2Fapi`). 429 and 5xx
//! answers are retried after `Retry-After` / `ratelimit-reset` or an exponential back-off.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::executor::{Progress, Removed, Result, RetentionBackend, RetentionError};
use super::planner::{Deletion, Inventory, ManifestRecord, TagRecord};

/// The public API address.
pub const DEFAULT_API: &str = "https://api.digitalocean.com";

const PER_PAGE: usize = 100;
const MAX_PAGES: usize = 10_000;

/// Retention backend for one repository of a DigitalOcean container registry.
#[derive(Debug)]
pub struct DigitalOceanBackend {
    client: reqwest::Client,
    api: String,
    token: String,
    registry: String,
    repository: String,
    garbage_collect: bool,
    max_attempts: u32,
    base_delay: Duration,
    requests: AtomicU64,
    fresh: Mutex<Option<HashMap<String, String>>>,
}

#[derive(Debug, Deserialize)]
struct TagPage {
    #[serde(default)]
    tags: Vec<DoTag>,
    #[serde(default)]
    links: Option<Links>,
}

#[derive(Debug, Deserialize)]
struct DoTag {
    tag: String,
    manifest_digest: String,
    #[serde(default)]
    size_bytes: Option<u64>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct Links {
    #[serde(default)]
    pages: Option<Pages>,
}

#[derive(Debug, Deserialize)]
struct Pages {
    #[serde(default)]
    next: Option<String>,
}

impl DigitalOceanBackend {
    /// A backend for `registry`/`repository` (`repository` may contain `/`), authenticated
    /// with an API token (`DIGITALOCEAN_TOKEN`). `api` is [`DEFAULT_API`] outside tests.
    pub fn new(
        api: &str,
        token: &str,
        registry: &str,
        repository: &str,
        garbage_collect: bool,
    ) -> Result<Self> {
        if token.trim().is_empty() {
            return Err(RetentionError::Config {
                message: "no DigitalOcean API token: set DIGITALOCEAN_TOKEN (a token with registry read/write scope)".to_owned(),
            });
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("gitops/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| RetentionError::Config {
                message: format!("cannot build the HTTP client: {err}"),
            })?;
        Ok(Self {
            client,
            api: api.trim_end_matches('/').to_owned(),
            token: token.trim().to_owned(),
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            garbage_collect,
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            requests: AtomicU64::new(0),
            fresh: Mutex::new(None),
        })
    }

    /// Shorter back-off for tests against a local fake.
    pub fn with_retry(mut self, max_attempts: u32, base_delay: Duration) -> Self {
        self.max_attempts = max_attempts.max(1);
        self.base_delay = base_delay;
        self
    }

    fn repo_url(&self) -> String {
        format!(
            "{}/v2/registries/{}/repositories/{}",
            self.api,
            utf8_percent_encode(&self.registry, NON_ALPHANUMERIC),
            utf8_percent_encode(&self.repository, NON_ALPHANUMERIC)
        )
    }

    fn shown(&self) -> String {
        format!(
            "registry.digitalocean.com/{}/{}",
            self.registry, self.repository
        )
    }

    /// Sends with retries on 429/5xx and transport errors; returns the last response.
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<serde_json::Value>,
    ) -> std::result::Result<reqwest::Response, String> {
        let mut last = String::new();
        for attempt in 1..=self.max_attempts {
            let mut request = self
                .client
                .request(method.clone(), url)
                .bearer_auth(&self.token)
                .header("accept", "application/json");
            if let Some(body) = &body {
                request = request.json(body);
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            let wait = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if status != 429 && !(500..600).contains(&status) {
                        return Ok(response);
                    }
                    last = format!("HTTP {status}");
                    retry_wait(response.headers())
                }
                Err(err) => {
                    last = err.to_string();
                    None
                }
            };
            if attempt < self.max_attempts {
                let backoff = self.base_delay * 2u32.saturating_pow(attempt - 1);
                tokio::time::sleep(wait.unwrap_or(backoff).min(Duration::from_secs(60))).await;
            }
        }
        Err(format!("{last} after {} attempt(s)", self.max_attempts))
    }

    async fn list_all(&self) -> Result<Vec<DoTag>> {
        let listing_error = |message: String| RetentionError::IncompleteListing {
            repository: self.shown(),
            message,
            source: None,
        };
        let mut out: Vec<DoTag> = Vec::new();
        let mut next = Some(format!(
            "{}/tags?page=1&per_page={PER_PAGE}",
            self.repo_url()
        ));
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(listing_error(format!("more than {MAX_PAGES} pages")));
            }
            let response = self
                .send(reqwest::Method::GET, &url, None)
                .await
                .map_err(listing_error)?;
            let status = response.status().as_u16();
            let text = response
                .text()
                .await
                .map_err(|e| listing_error(e.to_string()))?;
            if status == 404 && pages == 1 {
                return Err(listing_error(format!(
                    "registry or repository not found (HTTP 404): {}; check --image",
                    api_message(&text)
                )));
            }
            if status != 200 {
                return Err(listing_error(format!(
                    "page {pages} answered HTTP {status}: {}{}",
                    api_message(&text),
                    auth_hint(status)
                )));
            }
            let page: TagPage = serde_json::from_str(&text).map_err(|e| {
                listing_error(format!("page {pages} is not the documented JSON: {e}"))
            })?;
            let count = page.tags.len();
            out.extend(page.tags);
            next = page
                .links
                .and_then(|l| l.pages)
                .and_then(|p| p.next)
                .filter(|_| count > 0)
                .map(|n| self.same_origin(&n));
        }
        Ok(out)
    }

    /// `next` links point at the public API; keep talking to the configured address.
    fn same_origin(&self, link: &str) -> String {
        match link.find("/v2/") {
            Some(i) => format!("{}{}", self.api, &link[i..]),
            None => link.to_owned(),
        }
    }
}

fn retry_wait(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(secs) = get("retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    let reset = get("ratelimit-reset").and_then(|v| v.trim().parse::<i64>().ok())?;
    let now = Utc::now().timestamp();
    Some(Duration::from_secs(
        u64::try_from(reset - now).unwrap_or(0).max(1),
    ))
}

fn api_message(text: &str) -> String {
    #[derive(Deserialize)]
    struct ApiError {
        #[serde(default)]
        id: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_str::<ApiError>(text) {
        Ok(e) if !e.message.is_empty() => format!("{} ({})", e.message, e.id),
        _ => text.chars().take(200).collect(),
    }
}

fn auth_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => "; check that DIGITALOCEAN_TOKEN is valid and has registry scope",
        _ => "",
    }
}

impl RetentionBackend for DigitalOceanBackend {
    fn describe(&self) -> String {
        format!("DigitalOcean registry {}", self.shown())
    }

    async fn inventory(&self, progress: &dyn Progress) -> Result<Inventory> {
        progress.start("listing tags", 1);
        let tags = self.list_all().await?;
        progress.advance(1);
        progress.finish();
        let mut manifests: HashMap<String, ManifestRecord> = HashMap::new();
        let mut records = Vec::with_capacity(tags.len());
        for t in tags {
            let m = manifests
                .entry(t.manifest_digest.clone())
                .or_insert_with(|| ManifestRecord {
                    digest: t.manifest_digest.clone(),
                    size: t.size_bytes,
                    ..ManifestRecord::default()
                });
            m.pushed_at = m.pushed_at.max(t.updated_at);
            records.push(TagRecord {
                tag: t.tag,
                digest: t.manifest_digest,
                pushed_at: t.updated_at,
            });
        }
        records.sort_by(|a, b| a.tag.cmp(&b.tag));
        let mut manifests: Vec<ManifestRecord> = manifests.into_values().collect();
        manifests.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(Inventory {
            repository: self.shown(),
            tags: records,
            manifests,
        })
    }

    async fn list_tags(&self) -> Result<Vec<String>> {
        let tags = self.list_all().await?;
        let map: HashMap<String, String> = tags
            .into_iter()
            .map(|t| (t.tag, t.manifest_digest))
            .collect();
        let names = map.keys().cloned().collect();
        if let Ok(mut fresh) = self.fresh.lock() {
            *fresh = Some(map);
        }
        Ok(names)
    }

    async fn resolve(&self, tag: &str) -> Result<Option<String>> {
        let cached = self
            .fresh
            .lock()
            .ok()
            .and_then(|f| f.as_ref().map(|m| m.get(tag).cloned()));
        match cached {
            Some(found) => Ok(found),
            None => {
                self.list_tags().await?;
                Ok(self
                    .fresh
                    .lock()
                    .ok()
                    .and_then(|f| f.as_ref().and_then(|m| m.get(tag).cloned())))
            }
        }
    }

    async fn delete(&self, deletion: &Deletion) -> Result<Removed> {
        let url = format!(
            "{}/digests/{}",
            self.repo_url(),
            utf8_percent_encode(&deletion.digest, NON_ALPHANUMERIC)
        );
        let reference = format!("{}@{}", self.shown(), deletion.digest);
        let response = self
            .send(reqwest::Method::DELETE, &url, None)
            .await
            .map_err(|message| RetentionError::Delete {
                reference: reference.clone(),
                message,
                source: None,
            })?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        match status {
            200..=299 => Ok(Removed::Deleted),
            404 => Ok(Removed::AlreadyGone),
            _ => Err(RetentionError::Delete {
                reference,
                message: format!("HTTP {status}: {}{}", api_message(&text), auth_hint(status)),
                source: None,
            }),
        }
    }

    fn requests(&self) -> Option<u64> {
        Some(self.requests.load(Ordering::Relaxed))
    }

    async fn finish(&self, deleted: usize) -> Result<bool> {
        if !self.garbage_collect || deleted == 0 {
            return Ok(false);
        }
        let url = format!(
            "{}/v2/registries/{}/garbage-collection",
            self.api,
            utf8_percent_encode(&self.registry, NON_ALPHANUMERIC)
        );
        let body = serde_json::json!({"type": "untagged manifests and unreferenced blobs"});
        let response = self
            .send(reqwest::Method::POST, &url, Some(body))
            .await
            .map_err(|message| RetentionError::Delete {
                reference: format!("garbage collection of {}", self.registry),
                message,
                source: None,
            })?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        match status {
            200..=299 => Ok(true),
            // One is already running: it will collect what was deleted.
            409 => Ok(false),
            _ => Err(RetentionError::Delete {
                reference: format!("garbage collection of {}", self.registry),
                message: format!("HTTP {status}: {}{}", api_message(&text), auth_hint(status)),
                source: None,
            }),
        }
    }
}
