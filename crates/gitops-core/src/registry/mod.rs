//! Container registries behind one interface: the OCI distribution HTTP API
//! ([`http::HttpRegistry`]) and an OCI image-layout directory ([`layout::LayoutRegistry`],
//! `oci:PATH:tag` as skopeo spells it).
//!
//! Manifests are moved as raw bytes with their media type, so a digest never changes on the
//! way (re-serialising JSON would). Promotion ([`promote`]) and pushes ([`push`]) are
//! computed as plans first, then executed; `--dry-run` prints the plan.
//!
//! Retention builds on [`Registry::list_tags`], [`Registry::resolve`],
//! [`Registry::get_manifest`] ([`Manifest::children`], [`Manifest::blobs`] for sizes),
//! [`Registry::delete_tag`] and [`Registry::delete_manifest`].

pub mod auth;
pub mod http;
pub mod layout;
pub mod promote;
pub mod push;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::image_ref::{ImageRef, Transport};

pub use http::HttpRegistry;
pub use layout::LayoutRegistry;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest v2 schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Every manifest media type we accept, for `Accept` headers.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// Annotation holding the source commit an image was built from.
pub const ANNOTATION_REVISION: &str = "org.opencontainers.image.revision";
/// Annotation holding the git tree hash of the sources an image was built from.
pub const ANNOTATION_TREE: &str = "dev.gitops.tree";
/// Annotation naming a manifest in an OCI layout's index.json (its tag).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// What went wrong talking to a registry. Every variant names the reference involved.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached (after retries).
    #[error(
        "cannot reach registry {registry} ({attempts} attempt(s)): {message}; check the address, that the registry is running, and --insecure-registry for plain-HTTP registries"
    )]
    Unreachable {
        /// `host[:port]`.
        registry: String,
        /// Attempts made.
        attempts: u32,
        /// The last transport error.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// The registry kept answering with a retryable status until attempts ran out.
    #[error(
        "registry {registry} answered {status} to {method} {path} {attempts} time(s); giving up (it is overloaded or rate-limiting: retry later)"
    )]
    Exhausted {
        /// `host[:port]`.
        registry: String,
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// Last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// 401/403: credentials missing or wrong. The secret is never included.
    #[error(
        "registry {registry} refused access to {reference} ({status}{user}); check the credentials in GITOPS_REGISTRY_USERNAME/GITOPS_REGISTRY_PASSWORD or `docker login {registry}`"
    )]
    Unauthorized {
        /// `host[:port]`.
        registry: String,
        /// The reference being accessed.
        reference: String,
        /// 401 or 403.
        status: u16,
        /// ` as user NAME` when a user name was used.
        user: String,
    },
    /// The manifest, tag, blob or repository does not exist.
    #[error("{reference} not found ({what})")]
    NotFound {
        /// The reference.
        reference: String,
        /// What the registry said.
        what: String,
    },
    /// The registry rejected a write.
    #[error("registry rejected {operation} for {reference}: HTTP {status}: {body}")]
    Rejected {
        /// What was attempted (`manifest PUT of tag staging-latest`).
        operation: String,
        /// The reference.
        reference: String,
        /// HTTP status.
        status: u16,
        /// Error body (registry error codes), shortened.
        body: String,
    },
    /// Content did not match its digest.
    #[error(
        "{reference}: content digest is {actual}, expected {expected}; refusing corrupted or substituted content"
    )]
    DigestMismatch {
        /// The reference.
        reference: String,
        /// Expected digest.
        expected: String,
        /// Digest of what was received.
        actual: String,
    },
    /// A manifest or index.json was not valid JSON of the expected shape.
    #[error("{reference}: invalid {what}: {source}")]
    InvalidJson {
        /// Where.
        reference: String,
        /// What was being read.
        what: String,
        /// The parser error.
        #[source]
        source: serde_json::Error,
    },
    /// The tag listing could not be completed; no partial list is returned.
    #[error("listing the tags of {repository} did not complete: {reason}")]
    IncompleteListing {
        /// The repository.
        repository: String,
        /// Why.
        reason: String,
    },
    /// The backend does not support this operation.
    #[error("{operation} is not supported by {backend} for {reference}")]
    Unsupported {
        /// What was attempted.
        operation: String,
        /// Which backend.
        backend: String,
        /// The reference.
        reference: String,
    },
    /// File-system error in an OCI layout.
    #[error("{path}: {action} failed: {source}")]
    Io {
        /// The file.
        path: String,
        /// What was being done.
        action: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A reference given does not fit the operation.
    #[error("invalid reference {reference}: {reason}")]
    InvalidReference {
        /// The reference.
        reference: String,
        /// Why.
        reason: String,
    },
    /// Credentials could not be obtained (helper failed, config unreadable).
    #[error("credentials for {registry}: {reason}")]
    Credentials {
        /// host.
        registry: String,
        /// Why (never the secret).
        reason: String,
    },
}

/// Result alias of this module.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// `sha256:<hex>` of bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Whether `text` is a digest (`sha256:` + 64 hex).
pub fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Checks bytes against a digest (sha256 only; other algorithms are rejected).
pub fn verify_digest(reference: &str, expected: &str, bytes: &[u8]) -> Result<()> {
    let actual = sha256_digest(bytes);
    if actual == expected {
        Ok(())
    } else {
        Err(RegistryError::DigestMismatch {
            reference: reference.to_owned(),
            expected: expected.to_owned(),
            actual,
        })
    }
}

/// A content descriptor (OCI): what a manifest refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the target.
    #[serde(default)]
    pub media_type: String,
    /// `sha256:...`.
    pub digest: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// Platform (index entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
}

/// The parts of a manifest or index we read (unknown fields are ignored, bytes are kept).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestShape {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(default)]
    subject: Option<Descriptor>,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

/// A manifest exactly as stored: its bytes, media type and digest (sha256 of the bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Raw bytes, never re-serialised.
    pub bytes: Vec<u8>,
    /// `Content-Type` it is served with.
    pub media_type: String,
    /// `sha256:` of `bytes`.
    pub digest: String,
}

impl Manifest {
    /// Wraps raw bytes; the media type is taken from `media_type` or, when empty, from the
    /// JSON's `mediaType` field.
    pub fn from_bytes(bytes: Vec<u8>, media_type: &str) -> Self {
        let media_type = if media_type.is_empty() || media_type == "application/json" {
            serde_json::from_slice::<ManifestShape>(&bytes)
                .ok()
                .and_then(|s| s.media_type)
                .unwrap_or_else(|| OCI_MANIFEST.to_owned())
        } else {
            media_type
                .split(';')
                .next()
                .unwrap_or(media_type)
                .trim()
                .to_owned()
        };
        let digest = sha256_digest(&bytes);
        Self {
            bytes,
            media_type,
            digest,
        }
    }

    fn shape(&self) -> Result<ManifestShape> {
        serde_json::from_slice(&self.bytes).map_err(|source| RegistryError::InvalidJson {
            reference: self.digest.clone(),
            what: "manifest".to_owned(),
            source,
        })
    }

    /// Whether this is an index / manifest list (multi-platform image).
    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_MANIFEST_LIST
    }

    /// The child manifests of an index (empty for an image manifest).
    pub fn children(&self) -> Result<Vec<Descriptor>> {
        Ok(if self.is_index() {
            self.shape()?.manifests
        } else {
            Vec::new()
        })
    }

    /// Config and layers of an image manifest (empty for an index).
    pub fn blobs(&self) -> Result<Vec<Descriptor>> {
        if self.is_index() {
            return Ok(Vec::new());
        }
        let shape = self.shape()?;
        Ok(shape.config.into_iter().chain(shape.layers).collect())
    }

    /// Annotations of the manifest itself.
    pub fn annotations(&self) -> Result<std::collections::BTreeMap<String, String>> {
        Ok(self.shape()?.annotations)
    }

    /// The `subject` of a referrer (signature, SBOM), if any.
    pub fn subject(&self) -> Result<Option<Descriptor>> {
        Ok(self.shape()?.subject)
    }

    /// A descriptor pointing at this manifest.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.bytes.len() as u64,
            platform: None,
            annotations: None,
        }
    }
}

/// Traffic counters shared by clones of a backend.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    inner: Arc<StatsInner>,
}

#[derive(Debug, Default)]
struct StatsInner {
    requests: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
}

/// A snapshot of [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// Requests sent (HTTP) or operations made (layout).
    pub requests: u64,
    /// Body bytes sent.
    pub bytes_sent: u64,
    /// Body bytes received.
    pub bytes_received: u64,
}

impl Stats {
    /// Counts one request with its body sizes.
    pub fn record(&self, sent: u64, received: u64) {
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        self.inner.bytes_sent.fetch_add(sent, Ordering::Relaxed);
        self.inner
            .bytes_received
            .fetch_add(received, Ordering::Relaxed);
    }

    /// Adds received bytes to the last request.
    pub fn add_received(&self, received: u64) {
        self.inner
            .bytes_received
            .fetch_add(received, Ordering::Relaxed);
    }

    /// Current values.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.inner.requests.load(Ordering::Relaxed),
            bytes_sent: self.inner.bytes_sent.load(Ordering::Relaxed),
            bytes_received: self.inner.bytes_received.load(Ordering::Relaxed),
        }
    }
}

/// How a tag deletion went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum TagDeletion {
    /// The tag was removed; the manifest stays.
    Deleted,
    /// The registry cannot delete tags (distribution 2.8: 400, or 405); only deleting the
    /// digest (which removes every tag on it) is possible.
    OnlyDigestDeletion,
}

/// How to connect: retries, timeouts, credentials, plain-HTTP hosts.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `HOST:PORT` values reached over plain HTTP (loopback hosts always are).
    pub insecure_registries: Vec<String>,
    /// Attempts per request (default 5).
    pub max_attempts: u32,
    /// First back-off delay (doubled per attempt, with jitter; default 200 ms).
    pub base_delay: Duration,
    /// Longest single wait, including `Retry-After` (default 30 s).
    pub max_delay: Duration,
    /// Timeout of every request (default 300 s; blobs can be large).
    pub timeout: Duration,
    /// Connection timeout (default 10 s).
    pub connect_timeout: Duration,
    /// Where credentials come from.
    pub credentials: auth::CredentialSource,
    /// Bounded concurrency of blob transfers (default 4).
    pub concurrency: usize,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            insecure_registries: Vec::new(),
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
            timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            credentials: auth::CredentialSource::default(),
            concurrency: 4,
        }
    }
}

/// A registry backend: enum dispatch over the HTTP API and an OCI layout directory. Every
/// operation takes the repository (an [`ImageRef`]; its tag/digest is ignored unless the
/// operation says otherwise).
#[derive(Debug, Clone)]
pub enum Registry {
    /// OCI distribution over HTTP(S).
    Http(HttpRegistry),
    /// OCI image-layout directory.
    Layout(LayoutRegistry),
}

macro_rules! dispatch {
    ($self:ident, $inner:ident => $body:expr) => {
        match $self {
            Registry::Http($inner) => $body,
            Registry::Layout($inner) => $body,
        }
    };
}

impl Registry {
    /// The backend for a reference: a layout for `oci:PATH`, else HTTP to its registry
    /// (`docker.io` when none is named).
    pub fn for_ref(reference: &ImageRef, options: &ConnectOptions) -> Result<Self> {
        match reference.transport {
            Transport::Layout => Ok(Self::Layout(LayoutRegistry::open(&reference.repository)?)),
            Transport::Registry => Ok(Self::Http(HttpRegistry::new(
                reference.registry.as_deref().unwrap_or("docker.io"),
                options,
            )?)),
        }
    }

    /// Whether both references are served by the same backend instance (same registry host
    /// or same layout directory).
    pub fn same_store(a: &ImageRef, b: &ImageRef) -> bool {
        a.transport == b.transport
            && a.registry == b.registry
            && (a.transport == Transport::Registry || a.repository == b.repository)
    }

    /// Traffic so far.
    pub fn stats(&self) -> StatsSnapshot {
        dispatch!(self, r => r.stats())
    }

    /// Short name for messages (`registry 127.0.0.1:5000`, `layout ./dir`).
    pub fn describe(&self) -> String {
        dispatch!(self, r => r.describe())
    }

    /// Resolves `reference` (tag or digest) to the descriptor of its manifest (HEAD, GET
    /// fallback when the registry sends no digest).
    pub async fn resolve(&self, reference: &ImageRef) -> Result<Descriptor> {
        dispatch!(self, r => r.resolve(reference).await)
    }

    /// Like [`Registry::resolve`], but `Ok(None)` when the tag does not exist.
    pub async fn try_resolve(&self, reference: &ImageRef) -> Result<Option<Descriptor>> {
        match self.resolve(reference).await {
            Ok(d) => Ok(Some(d)),
            Err(RegistryError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The manifest `reference` (tag or digest) points at, bytes verified against the digest.
    pub async fn get_manifest(&self, reference: &ImageRef) -> Result<Manifest> {
        dispatch!(self, r => r.get_manifest(reference).await)
    }

    /// Stores `manifest` under `tag_or_digest` in the repository of `repository`, bytes and
    /// media type unchanged. Returns the digest the registry reports.
    pub async fn put_manifest(
        &self,
        repository: &ImageRef,
        tag_or_digest: &str,
        manifest: &Manifest,
    ) -> Result<String> {
        dispatch!(self, r => r.put_manifest(repository, tag_or_digest, manifest).await)
    }

    /// Every tag of the repository, sorted and de-duplicated; an error rather than a partial
    /// list. A missing repository has no tags.
    pub async fn list_tags(&self, repository: &ImageRef) -> Result<Vec<String>> {
        dispatch!(self, r => r.list_tags(repository).await)
    }

    /// Whether the repository has this blob.
    pub async fn has_blob(&self, repository: &ImageRef, digest: &str) -> Result<bool> {
        dispatch!(self, r => r.has_blob(repository, digest).await)
    }

    /// A blob's bytes, verified against its digest.
    pub async fn get_blob(&self, repository: &ImageRef, digest: &str) -> Result<Vec<u8>> {
        dispatch!(self, r => r.get_blob(repository, digest).await)
    }

    /// Uploads a blob (verified against `digest` first).
    pub async fn put_blob(
        &self,
        repository: &ImageRef,
        digest: &str,
        bytes: Vec<u8>,
    ) -> Result<()> {
        dispatch!(self, r => r.put_blob(repository, digest, bytes).await)
    }

    /// Cross-repository mount of a blob from `from` (same store). `Ok(false)` when the
    /// registry declined (any upload session it opened is cancelled).
    pub async fn mount_blob(
        &self,
        repository: &ImageRef,
        digest: &str,
        from: &ImageRef,
    ) -> Result<bool> {
        dispatch!(self, r => r.mount_blob(repository, digest, from).await)
    }

    /// Manifests whose `subject` is `digest` (signatures, SBOMs, attestations): the OCI
    /// referrers API, falling back to the `sha256-<hex>` tag schema; empty when none.
    pub async fn referrers(&self, repository: &ImageRef, digest: &str) -> Result<Vec<Descriptor>> {
        if let Self::Http(r) = self
            && let Some(found) = r.referrers_api(repository, digest).await?
        {
            return Ok(found);
        }
        let tag = digest.replacen(':', "-", 1);
        let Ok(reference) = repository.without_tag_or_digest().with_tag(&tag) else {
            return Ok(Vec::new());
        };
        match self.get_manifest(&reference).await {
            Ok(index) => index.children(),
            Err(RegistryError::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Deletes a tag, keeping the manifest, where the backend supports it.
    pub async fn delete_tag(&self, repository: &ImageRef, tag: &str) -> Result<TagDeletion> {
        dispatch!(self, r => r.delete_tag(repository, tag).await)
    }

    /// Deletes a manifest by digest (removes every tag pointing at it).
    pub async fn delete_manifest(&self, repository: &ImageRef, digest: &str) -> Result<()> {
        dispatch!(self, r => r.delete_manifest(repository, digest).await)
    }
}

/// The reference text of `repository` with `tag_or_digest`, for messages.
pub fn display_ref(repository: &ImageRef, tag_or_digest: &str) -> String {
    let name = repository.name();
    if tag_or_digest.contains(':') {
        format!("{name}@{tag_or_digest}")
    } else {
        format!("{name}:{tag_or_digest}")
    }
}
