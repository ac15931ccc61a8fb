//! The OCI distribution HTTP API over reqwest: bearer-token challenge flow, Basic and
//! anonymous access, bounded retries with back-off and jitter, a timeout on every request,
//! request and byte counters, `Link` pagination, cross-repository mounts and DELETE.
//!
//! `oci-client` covers pulls and pushes but probes `/v2/` before every request on anonymous
//! registries, has no retry hook and no DELETE; the promotion cost target (three requests
//! plus auth) needs control over every request, so this speaks the protocol directly with
//! the same token flow.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, LINK, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};
use tokio::sync::Mutex;

use super::auth::{Challenge, Credentials, parse_challenge};
use super::{
    ConnectOptions, Descriptor, MANIFEST_MEDIA_TYPES, Manifest, RegistryError, Result, Stats,
    StatsSnapshot, TagDeletion, display_ref, is_digest, verify_digest,
};
use crate::image_ref::ImageRef;

/// Most `Link` pages followed when listing tags (a guard against a registry that loops).
const MAX_TAG_PAGES: usize = 10_000;
/// Page size asked for when listing tags.
const TAG_PAGE_SIZE: usize = 1000;

/// A client for one registry host. Cheap to clone; clones share tokens and counters.
#[derive(Debug, Clone)]
pub struct HttpRegistry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    host: String,
    api_host: String,
    scheme: &'static str,
    client: reqwest::Client,
    options: ConnectOptions,
    credentials: Mutex<Option<Credentials>>,
    challenge: Mutex<Option<Challenge>>,
    tokens: Mutex<HashMap<String, String>>,
    stats: Stats,
}

/// One request to send.
struct Req<'a> {
    method: Method,
    /// Path and query (`/v2/...`) or an absolute URL.
    target: String,
    accept: Option<String>,
    content_type: Option<&'a str>,
    body: Option<Vec<u8>>,
    /// Token scope (`repository:app:pull`).
    scope: String,
    /// For messages.
    reference: String,
}

/// Whether a host is loopback (plain HTTP by default).
pub fn is_loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    name == "localhost" || name.starts_with("127.") || name == "[::1]" || name == "::1"
}

impl HttpRegistry {
    /// A client for `host` (`host[:port]`; `docker.io` means Docker Hub).
    pub fn new(host: &str, options: &ConnectOptions) -> Result<Self> {
        let insecure = is_loopback(host) || options.insecure_registries.iter().any(|h| h == host);
        let mut builder = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!("gitops/", env!("CARGO_PKG_VERSION")));
        if insecure {
            // Plain HTTP never verifies a certificate: skip loading the system's root store
            // (about 150 files read and parsed, a visible share of a 20 ms promotion).
            builder = builder.tls_certs_only(Vec::<reqwest::Certificate>::new());
        }
        let client = builder.build().map_err(|e| RegistryError::Unreachable {
            registry: host.to_owned(),
            attempts: 0,
            message: format!("cannot build the HTTP client: {e}"),
            source: Some(e),
        })?;
        let api_host = if host == "docker.io" || host == "index.docker.io" {
            "registry-1.docker.io".to_owned()
        } else {
            host.to_owned()
        };
        Ok(Self {
            inner: Arc::new(Inner {
                host: host.to_owned(),
                api_host,
                scheme: if insecure { "http" } else { "https" },
                client,
                options: options.clone(),
                credentials: Mutex::new(None),
                challenge: Mutex::new(None),
                tokens: Mutex::new(HashMap::new()),
                stats: Stats::default(),
            }),
        })
    }

    /// The registry host.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// Traffic so far.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// `registry HOST`.
    pub fn describe(&self) -> String {
        format!("registry {}", self.inner.host)
    }

    /// The repository path as the API wants it (`library/` for Docker Hub official images).
    fn repo_path(&self, repository: &ImageRef) -> String {
        let repo = repository.repository.as_str();
        if self.inner.api_host == "registry-1.docker.io" && !repo.contains('/') {
            format!("library/{repo}")
        } else {
            repo.to_owned()
        }
    }

    /// The full URL of `/v2/...` paths.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.inner.scheme, self.inner.api_host, path)
    }

    /// The request line a manifest operation would send (for dry runs).
    pub fn manifest_path(&self, repository: &ImageRef, reference: &str) -> String {
        format!("/v2/{}/manifests/{reference}", self.repo_path(repository))
    }

    async fn credentials(&self) -> Result<Credentials> {
        let mut slot = self.inner.credentials.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let host = self.inner.host.clone();
        let source = self.inner.options.credentials.clone();
        // Credential helpers are processes: run them off the async workers.
        let creds = tokio::task::spawn_blocking(move || super::auth::lookup(&host, &source))
            .await
            .map_err(|e| RegistryError::Credentials {
                registry: self.inner.host.clone(),
                reason: format!("credential lookup did not finish: {e}"),
            })??;
        *slot = Some(creds.clone());
        Ok(creds)
    }

    /// The Authorization header for `scope`, fetching a token when the registry wants one.
    async fn authorization(
        &self,
        scope: &str,
        reference: &str,
        fresh: bool,
    ) -> Result<Option<String>> {
        let challenge = self.inner.challenge.lock().await.clone();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => match self.credentials().await? {
                Credentials::Basic { username, password } => Ok(Some(basic(&username, &password))),
                _ => Ok(None),
            },
            Some(Challenge::Bearer { realm, service }) => {
                if !fresh && let Some(token) = self.inner.tokens.lock().await.get(scope) {
                    return Ok(Some(format!("Bearer {token}")));
                }
                let token = self
                    .fetch_token(&realm, service.as_deref(), scope, reference)
                    .await?;
                self.inner
                    .tokens
                    .lock()
                    .await
                    .insert(scope.to_owned(), token.clone());
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        reference: &str,
    ) -> Result<String> {
        let creds = self.credentials().await?;
        let mut url = url::Url::parse(realm).map_err(|e| RegistryError::InvalidReference {
            reference: realm.to_owned(),
            reason: format!("the registry's token realm is not a URL: {e}"),
        })?;
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        if let Some(service) = service {
            form.append_pair("service", service);
        }
        for s in scope.split(' ').filter(|s| !s.is_empty()) {
            form.append_pair("scope", s);
        }
        let (method, body) = match &creds {
            Credentials::IdentityToken(token) => {
                form.append_pair("grant_type", "refresh_token");
                form.append_pair("refresh_token", token);
                form.append_pair("client_id", "gitops");
                (Method::POST, Some(form.finish().into_bytes()))
            }
            _ => {
                url.set_query(Some(&form.finish()));
                (Method::GET, None)
            }
        };
        // The token endpoint gets the same bounded retries as the registry itself.
        let max_attempts = self.inner.options.max_attempts.max(1);
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            let mut request = self.inner.client.request(method.clone(), url.as_str());
            if let Credentials::Basic { username, password } = &creds {
                request = request.header(AUTHORIZATION, basic(username, password));
            }
            if let Some(body) = &body {
                request = request
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body.clone());
            }
            let result = request.send().await;
            self.inner
                .stats
                .record(body.as_ref().map_or(0, |b| b.len() as u64), 0);
            match result {
                Ok(r)
                    if matches!(r.status().as_u16(), 429 | 502 | 503 | 504)
                        && attempt < max_attempts =>
                {
                    let wait = retry_after(r.headers())
                        .map(|d| d.min(self.inner.options.max_delay))
                        .unwrap_or_else(|| self.backoff(attempt));
                    let _ = self.read(r, reference).await;
                    tokio::time::sleep(wait).await;
                }
                Ok(r) => break r,
                Err(e) if attempt < max_attempts && (e.is_connect() || e.is_timeout()) => {
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                Err(e) => {
                    return Err(RegistryError::Unreachable {
                        registry: url.host_str().unwrap_or_default().to_owned(),
                        attempts: attempt,
                        message: format!("token request failed: {}", describe_transport_error(&e)),
                        source: Some(e),
                    });
                }
            }
        };
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(self.unauthorized(reference, status.as_u16(), &creds));
        }
        let bytes = self.read(response, reference).await?;
        if !status.is_success() {
            return Err(RegistryError::Rejected {
                operation: "token request".to_owned(),
                reference: reference.to_owned(),
                status: status.as_u16(),
                body: short(&bytes),
            });
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&bytes).map_err(|source| RegistryError::InvalidJson {
                reference: reference.to_owned(),
                what: "token answer".to_owned(),
                source,
            })?;
        answer
            .token
            .or(answer.access_token)
            .ok_or_else(|| RegistryError::Rejected {
                operation: "token request".to_owned(),
                reference: reference.to_owned(),
                status: status.as_u16(),
                body: "the answer has no token".to_owned(),
            })
    }

    fn unauthorized(&self, reference: &str, status: u16, creds: &Credentials) -> RegistryError {
        RegistryError::Unauthorized {
            registry: self.inner.host.clone(),
            reference: reference.to_owned(),
            status,
            user: match creds {
                Credentials::Basic { username, .. } => format!(" as user {username}"),
                Credentials::IdentityToken(_) => " with an identity token".to_owned(),
                Credentials::Anonymous => " without credentials".to_owned(),
            },
        }
    }

    async fn read(&self, response: reqwest::Response, reference: &str) -> Result<Vec<u8>> {
        let bytes = response
            .bytes()
            .await
            .map_err(|e| RegistryError::Unreachable {
                registry: self.inner.host.clone(),
                attempts: 1,
                message: format!("reading the answer for {reference} failed: {e}"),
                source: Some(e),
            })?;
        self.inner.stats.add_received(bytes.len() as u64);
        Ok(bytes.to_vec())
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.inner.options.base_delay.as_secs_f64()
            * 2f64.powi(attempt.saturating_sub(1) as i32);
        let jitter = 0.5 + rand::random::<f64>();
        Duration::from_secs_f64((base * jitter).min(self.inner.options.max_delay.as_secs_f64()))
    }

    /// Sends with auth, retries and counting. Returns the final response (any status other
    /// than retryable ones and 401).
    async fn send(&self, req: Req<'_>) -> Result<reqwest::Response> {
        let url = if req.target.starts_with("http://") || req.target.starts_with("https://") {
            req.target.clone()
        } else {
            self.url(&req.target)
        };
        let max_attempts = self.inner.options.max_attempts.max(1);
        let mut attempt = 0;
        let mut refreshed_auth = false;
        let mut authorization = self
            .authorization(&req.scope, &req.reference, false)
            .await?;
        loop {
            attempt += 1;
            let mut builder = self.inner.client.request(req.method.clone(), &url);
            if let Some(accept) = &req.accept {
                builder = builder.header(ACCEPT, accept);
            }
            if let Some(ct) = req.content_type {
                builder = builder.header(CONTENT_TYPE, ct);
            }
            if let Some(auth) = &authorization {
                builder = builder.header(AUTHORIZATION, auth);
            }
            let sent = req.body.as_ref().map_or(0, |b| b.len() as u64);
            if let Some(body) = &req.body {
                builder = builder.body(body.clone());
            } else if req.method == Method::PUT || req.method == Method::POST {
                builder = builder.header(reqwest::header::CONTENT_LENGTH, "0");
            }
            let result = builder.send().await;
            self.inner.stats.record(sent, 0);
            let response = match result {
                Ok(r) => r,
                Err(e) => {
                    if attempt < max_attempts
                        && (e.is_connect() || e.is_timeout() || e.is_request())
                    {
                        tokio::time::sleep(self.backoff(attempt)).await;
                        continue;
                    }
                    return Err(RegistryError::Unreachable {
                        registry: self.inner.host.clone(),
                        attempts: attempt,
                        message: describe_transport_error(&e),
                        source: Some(e),
                    });
                }
            };
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED {
                let challenge = response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_challenge);
                let _ = self.read(response, &req.reference).await;
                let creds = self.credentials().await?;
                if !refreshed_auth && let Some(challenge) = challenge {
                    refreshed_auth = true;
                    let usable =
                        !(challenge == Challenge::Basic && creds == Credentials::Anonymous);
                    *self.inner.challenge.lock().await = Some(challenge);
                    if usable {
                        authorization =
                            self.authorization(&req.scope, &req.reference, true).await?;
                        attempt -= 1;
                        continue;
                    }
                }
                return Err(self.unauthorized(&req.reference, 401, &creds));
            }
            let retryable = matches!(status.as_u16(), 429 | 502 | 503 | 504);
            if retryable && attempt < max_attempts {
                let wait = retry_after(response.headers())
                    .map(|d| d.min(self.inner.options.max_delay))
                    .unwrap_or_else(|| self.backoff(attempt));
                let _ = self.read(response, &req.reference).await;
                tokio::time::sleep(wait).await;
                continue;
            }
            if retryable {
                let _ = self.read(response, &req.reference).await;
                return Err(RegistryError::Exhausted {
                    registry: self.inner.host.clone(),
                    method: req.method.to_string(),
                    path: url::Url::parse(&url)
                        .map(|u| u.path().to_owned())
                        .unwrap_or(url),
                    status: status.as_u16(),
                    attempts: attempt,
                });
            }
            return Ok(response);
        }
    }

    fn pull_scope(&self, repository: &ImageRef) -> String {
        format!("repository:{}:pull", self.repo_path(repository))
    }

    fn push_scope(&self, repository: &ImageRef) -> String {
        format!("repository:{}:pull,push", self.repo_path(repository))
    }

    /// A HEAD or GET of a manifest by tag or digest (pull scope, every manifest media type
    /// accepted), and the reference as shown in messages.
    fn manifest_read(&self, method: Method, reference: &ImageRef) -> (Req<'static>, String) {
        let target = reference.reference_or_latest();
        let shown = display_ref(reference, target);
        let request = Req {
            method,
            target: self.manifest_path(reference, target),
            accept: Some(MANIFEST_MEDIA_TYPES.join(", ")),
            content_type: None,
            body: None,
            scope: self.pull_scope(reference),
            reference: shown.clone(),
        };
        (request, shown)
    }

    /// Resolves a tag or digest with HEAD (GET when the registry sends no digest).
    pub async fn resolve(&self, reference: &ImageRef) -> Result<Descriptor> {
        let (request, shown) = self.manifest_read(Method::HEAD, reference);
        let response = self.send(request).await?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound {
                reference: shown,
                what: "manifest unknown".to_owned(),
            });
        }
        if !status.is_success() {
            return Err(RegistryError::Rejected {
                operation: "manifest HEAD".to_owned(),
                reference: shown,
                status: status.as_u16(),
                body: String::new(),
            });
        }
        let headers = response.headers();
        let digest = header(headers, "docker-content-digest").filter(|d| is_digest(d));
        let media_type = header(headers, CONTENT_TYPE.as_str()).unwrap_or_default();
        let size = header(headers, "content-length")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        match digest {
            Some(digest) if !media_type.is_empty() => Ok(Descriptor {
                media_type: media_type
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
                digest,
                size,
                platform: None,
                annotations: None,
            }),
            _ => Ok(self.get_manifest(reference).await?.descriptor()),
        }
    }

    /// GETs a manifest by tag or digest, verifying its bytes.
    pub async fn get_manifest(&self, reference: &ImageRef) -> Result<Manifest> {
        let (request, shown) = self.manifest_read(Method::GET, reference);
        let target = reference.reference_or_latest();
        let response = self.send(request).await?;
        let status = response.status();
        let media_type = header(response.headers(), CONTENT_TYPE.as_str()).unwrap_or_default();
        let served_digest = header(response.headers(), "docker-content-digest");
        let bytes = self.read(response, &shown).await?;
        if status == StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound {
                reference: shown,
                what: short(&bytes),
            });
        }
        if !status.is_success() {
            return Err(RegistryError::Rejected {
                operation: "manifest GET".to_owned(),
                reference: shown,
                status: status.as_u16(),
                body: short(&bytes),
            });
        }
        if is_digest(target) {
            verify_digest(&shown, target, &bytes)?;
        } else if let Some(served) = served_digest.filter(|d| d.starts_with("sha256:")) {
            verify_digest(&shown, &served, &bytes)?;
        }
        Ok(Manifest::from_bytes(bytes, &media_type))
    }

    /// PUTs raw manifest bytes under a tag or digest.
    pub async fn put_manifest(
        &self,
        repository: &ImageRef,
        tag_or_digest: &str,
        manifest: &Manifest,
    ) -> Result<String> {
        let shown = display_ref(repository, tag_or_digest);
        let response = self
            .send(Req {
                method: Method::PUT,
                target: self.manifest_path(repository, tag_or_digest),
                accept: None,
                content_type: Some(&manifest.media_type),
                body: Some(manifest.bytes.clone()),
                scope: self.push_scope(repository),
                reference: shown.clone(),
            })
            .await?;
        let status = response.status();
        let digest = header(response.headers(), "docker-content-digest");
        let bytes = self.read(response, &shown).await?;
        if status != StatusCode::CREATED && !status.is_success() {
            let what = if is_digest(tag_or_digest) {
                "digest"
            } else {
                "tag"
            };
            return Err(RegistryError::Rejected {
                operation: format!("manifest PUT of {what} {tag_or_digest}"),
                reference: shown,
                status: status.as_u16(),
                body: short(&bytes),
            });
        }
        let digest = digest.unwrap_or_else(|| manifest.digest.clone());
        if digest != manifest.digest {
            return Err(RegistryError::DigestMismatch {
                reference: shown,
                expected: manifest.digest.clone(),
                actual: digest,
            });
        }
        Ok(digest)
    }

    /// Every tag, following `Link` pages; de-duplicated and sorted.
    pub async fn list_tags(&self, repository: &ImageRef) -> Result<Vec<String>> {
        let shown = repository.name();
        let repo = self.repo_path(repository);
        let mut next = Some(format!("/v2/{repo}/tags/list?n={TAG_PAGE_SIZE}"));
        let mut tags = BTreeSet::new();
        let mut pages = 0;
        while let Some(target) = next.take() {
            pages += 1;
            if pages > MAX_TAG_PAGES {
                return Err(RegistryError::IncompleteListing {
                    repository: shown,
                    reason: format!(
                        "more than {MAX_TAG_PAGES} pages; the registry keeps sending Link headers"
                    ),
                });
            }
            let response = self
                .send(Req {
                    method: Method::GET,
                    target: target.clone(),
                    accept: Some("application/json".to_owned()),
                    content_type: None,
                    body: None,
                    scope: self.pull_scope(repository),
                    reference: shown.clone(),
                })
                .await
                .map_err(|e| match e {
                    RegistryError::Unauthorized { .. } => e,
                    other => RegistryError::IncompleteListing {
                        repository: shown.clone(),
                        reason: other.to_string(),
                    },
                })?;
            let status = response.status();
            let link = header(response.headers(), LINK.as_str());
            let bytes = self.read(response, &shown).await?;
            if status == StatusCode::NOT_FOUND && pages == 1 {
                // NAME_UNKNOWN: the repository does not exist, so it has no tags.
                return Ok(Vec::new());
            }
            if !status.is_success() {
                return Err(RegistryError::IncompleteListing {
                    repository: shown,
                    reason: format!(
                        "page {pages} answered HTTP {}: {}",
                        status.as_u16(),
                        short(&bytes)
                    ),
                });
            }
            #[derive(serde::Deserialize)]
            struct Page {
                #[serde(default)]
                tags: Option<Vec<String>>,
            }
            let page: Page =
                serde_json::from_slice(&bytes).map_err(|source| RegistryError::InvalidJson {
                    reference: shown.clone(),
                    what: "tag list".to_owned(),
                    source,
                })?;
            let page_tags = page.tags.unwrap_or_default();
            let before = tags.len();
            tags.extend(page_tags.iter().cloned());
            if page_tags.is_empty() || tags.len() == before {
                break;
            }
            next = link.and_then(|l| next_link(&l)).map(|l| {
                if l.starts_with('/') || l.starts_with("http") {
                    l
                } else {
                    format!("/{l}")
                }
            });
        }
        Ok(tags.into_iter().collect())
    }

    /// `GET /v2/<repo>/referrers/<digest>`; `None` when the registry lacks the API (404).
    pub async fn referrers_api(
        &self,
        repository: &ImageRef,
        digest: &str,
    ) -> Result<Option<Vec<Descriptor>>> {
        let shown = display_ref(repository, digest);
        let response = self
            .send(Req {
                method: Method::GET,
                target: format!("/v2/{}/referrers/{digest}", self.repo_path(repository)),
                accept: Some(super::OCI_INDEX.to_owned()),
                content_type: None,
                body: None,
                scope: self.pull_scope(repository),
                reference: shown.clone(),
            })
            .await?;
        let status = response.status();
        let bytes = self.read(response, &shown).await?;
        if !status.is_success() {
            return Ok(None);
        }
        Ok(Some(
            Manifest::from_bytes(bytes, super::OCI_INDEX).children()?,
        ))
    }

    /// A HEAD or GET of a blob (pull scope), and the reference as shown in messages.
    fn blob_read(
        &self,
        method: Method,
        repository: &ImageRef,
        digest: &str,
    ) -> (Req<'static>, String) {
        let shown = display_ref(repository, digest);
        let request = Req {
            method,
            target: format!("/v2/{}/blobs/{digest}", self.repo_path(repository)),
            accept: None,
            content_type: None,
            body: None,
            scope: self.pull_scope(repository),
            reference: shown.clone(),
        };
        (request, shown)
    }

    /// HEAD a blob.
    pub async fn has_blob(&self, repository: &ImageRef, digest: &str) -> Result<bool> {
        let (request, shown) = self.blob_read(Method::HEAD, repository, digest);
        let response = self.send(request).await?;
        match response.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(RegistryError::Rejected {
                operation: "blob HEAD".to_owned(),
                reference: shown,
                status: s.as_u16(),
                body: String::new(),
            }),
        }
    }

    /// GET a blob, verified.
    pub async fn get_blob(&self, repository: &ImageRef, digest: &str) -> Result<Vec<u8>> {
        let (request, shown) = self.blob_read(Method::GET, repository, digest);
        let response = self.send(request).await?;
        let status = response.status();
        let bytes = self.read(response, &shown).await?;
        if status == StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound {
                reference: shown,
                what: "blob unknown".to_owned(),
            });
        }
        if !status.is_success() {
            return Err(RegistryError::Rejected {
                operation: "blob GET".to_owned(),
                reference: shown,
                status: status.as_u16(),
                body: short(&bytes),
            });
        }
        verify_digest(&shown, digest, &bytes)?;
        Ok(bytes)
    }

    fn upload_location(&self, headers: &HeaderMap) -> Option<String> {
        let location = header(headers, LOCATION.as_str())?;
        Some(
            if location.starts_with("http://") || location.starts_with("https://") {
                location
            } else {
                self.url(&location)
            },
        )
    }

    /// Monolithic upload: POST a session, PUT the bytes with `?digest=`.
    pub async fn put_blob(
        &self,
        repository: &ImageRef,
        digest: &str,
        bytes: Vec<u8>,
    ) -> Result<()> {
        let shown = display_ref(repository, digest);
        verify_digest(&shown, digest, &bytes)?;
        let response = self
            .send(Req {
                method: Method::POST,
                target: format!("/v2/{}/blobs/uploads/", self.repo_path(repository)),
                accept: None,
                content_type: None,
                body: None,
                scope: self.push_scope(repository),
                reference: shown.clone(),
            })
            .await?;
        let status = response.status();
        let location = self.upload_location(response.headers());
        let answer = self.read(response, &shown).await?;
        let Some(location) = location.filter(|_| status == StatusCode::ACCEPTED) else {
            return Err(RegistryError::Rejected {
                operation: "blob upload start".to_owned(),
                reference: shown,
                status: status.as_u16(),
                body: short(&answer),
            });
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let target = format!("{location}{separator}digest={digest}");
        let response = self
            .send(Req {
                method: Method::PUT,
                target,
                accept: None,
                content_type: Some("application/octet-stream"),
                body: Some(bytes),
                scope: self.push_scope(repository),
                reference: shown.clone(),
            })
            .await?;
        let status = response.status();
        let answer = self.read(response, &shown).await?;
        if !status.is_success() {
            self.cancel_upload(&location, repository, &shown).await;
            return Err(RegistryError::Rejected {
                operation: "blob upload".to_owned(),
                reference: shown,
                status: status.as_u16(),
                body: short(&answer),
            });
        }
        Ok(())
    }

    /// Cancels an upload session (best effort: an abandoned session only costs storage
    /// until the registry expires it).
    async fn cancel_upload(&self, location: &str, repository: &ImageRef, shown: &str) {
        let _ = self
            .send(Req {
                method: Method::DELETE,
                target: location.to_owned(),
                accept: None,
                content_type: None,
                body: None,
                scope: self.push_scope(repository),
                reference: shown.to_owned(),
            })
            .await;
    }

    /// Cross-repository mount with a token covering the source's pull scope.
    pub async fn mount_blob(
        &self,
        repository: &ImageRef,
        digest: &str,
        from: &ImageRef,
    ) -> Result<bool> {
        let shown = display_ref(repository, digest);
        let from_path = self.repo_path(from);
        let response = self
            .send(Req {
                method: Method::POST,
                target: format!(
                    "/v2/{}/blobs/uploads/?mount={digest}&from={}",
                    self.repo_path(repository),
                    percent_encoding::utf8_percent_encode(
                        &from_path,
                        percent_encoding::NON_ALPHANUMERIC
                    )
                ),
                accept: None,
                content_type: None,
                body: None,
                scope: format!(
                    "{} repository:{from_path}:pull",
                    self.push_scope(repository)
                ),
                reference: shown.clone(),
            })
            .await?;
        let status = response.status();
        let location = self.upload_location(response.headers());
        let _ = self.read(response, &shown).await?;
        match status {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                if let Some(location) = location {
                    self.cancel_upload(&location, repository, &shown).await;
                }
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// DELETE a tag; distribution 2.8 answers 400 (and 405 with deletes off).
    pub async fn delete_tag(&self, repository: &ImageRef, tag: &str) -> Result<TagDeletion> {
        let shown = display_ref(repository, tag);
        let response = self.delete(repository, tag, &shown).await?;
        let status = response.status();
        let body = self.read(response, &shown).await?;
        match status.as_u16() {
            200 | 202 | 204 => Ok(TagDeletion::Deleted),
            400 | 405 => Ok(TagDeletion::OnlyDigestDeletion),
            404 => Err(RegistryError::NotFound {
                reference: shown,
                what: short(&body),
            }),
            s => Err(RegistryError::Rejected {
                operation: format!("DELETE of tag {tag}"),
                reference: shown,
                status: s,
                body: short(&body),
            }),
        }
    }

    /// DELETE a manifest by digest (every tag on it goes too).
    pub async fn delete_manifest(&self, repository: &ImageRef, digest: &str) -> Result<()> {
        let shown = display_ref(repository, digest);
        if !is_digest(digest) {
            return Err(RegistryError::InvalidReference {
                reference: shown,
                reason: "manifests are deleted by sha256 digest".to_owned(),
            });
        }
        let response = self.delete(repository, digest, &shown).await?;
        let status = response.status();
        let body = self.read(response, &shown).await?;
        match status.as_u16() {
            200 | 202 | 204 => Ok(()),
            404 => Err(RegistryError::NotFound {
                reference: shown,
                what: short(&body),
            }),
            405 => Err(RegistryError::Unsupported {
                operation: "manifest deletion".to_owned(),
                backend: self.describe(),
                reference: shown,
            }),
            s => Err(RegistryError::Rejected {
                operation: format!("DELETE of manifest {digest}"),
                reference: shown,
                status: s,
                body: short(&body),
            }),
        }
    }

    async fn delete(
        &self,
        repository: &ImageRef,
        reference: &str,
        shown: &str,
    ) -> Result<reqwest::Response> {
        self.send(Req {
            method: Method::DELETE,
            target: self.manifest_path(repository, reference),
            accept: None,
            content_type: None,
            body: None,
            scope: format!("repository:{}:delete", self.repo_path(repository)),
            reference: shown.to_owned(),
        })
        .await
    }
}

fn basic(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    )
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `Retry-After` in seconds (HTTP dates are treated as absent: back-off applies).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header(headers, RETRY_AFTER.as_str())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// The `rel="next"` target of a `Link` header.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            p.trim()
                .replace(' ', "")
                .eq_ignore_ascii_case("rel=\"next\"")
                || p.trim().eq_ignore_ascii_case("rel=next")
        });
        is_next.then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

fn describe_transport_error(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The first 300 characters of an error body, on one line.
fn short(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() > 300 {
        format!("{}...", text.chars().take(300).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_next_link() {
        assert_eq!(
            next_link(r#"</v2/app/tags/list?last=b&n=2>; rel="next""#),
            Some("/v2/app/tags/list?last=b&n=2".to_owned())
        );
        assert_eq!(next_link(r#"<x>; rel="prev""#), None);
    }

    proptest::proptest! {
        #[test]
        fn link_parser_never_panics(header in ".{0,200}") {
            let _ = next_link(&header);
        }

        #[test]
        fn loopback_check_never_panics(host in ".{0,40}") {
            let _ = is_loopback(&host);
        }
    }

    #[test]
    fn unauthorized_message_names_user_not_secret() {
        let registry = HttpRegistry::new("ghcr.io", &ConnectOptions::default()).expect("client");
        let err = registry.unauthorized(
            "ghcr.io/acme/app:dev-latest",
            401,
            &Credentials::Basic {
                username: "ci-bot".into(),
                password: "hunter2-secret".into(),
            },
        );
        insta::assert_snapshot!(err.to_string(), @"registry ghcr.io refused access to ghcr.io/acme/app:dev-latest (401 as user ci-bot); check the credentials in GITOPS_REGISTRY_USERNAME/GITOPS_REGISTRY_PASSWORD or `docker login ghcr.io`");
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("localhost"));
        assert!(!is_loopback("ghcr.io"));
    }
}
