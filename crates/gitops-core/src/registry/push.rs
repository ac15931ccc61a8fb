//! Pushing a built image — an OCI layout directory, or a tar of one (what
//! `docker buildx build --output type=oci` writes) — with all its tags at once.
//!
//! Blobs the target has are skipped (HEAD), blobs in another repository of the same
//! registry can be mounted, the rest are uploaded with bounded concurrency; an index's
//! children go before the index. The source commit and git tree hash are recorded as
//! annotations on the pushed manifest, so `gitops promote --tree` can find the image built
//! from identical sources later.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::promote::{BlobAction, BlobStep, TargetKind, collect_image, transfer_blobs};
use super::{
    ANNOTATION_REF_NAME, ANNOTATION_REVISION, ANNOTATION_TREE, LayoutRegistry, Manifest, Registry,
    RegistryError, Result, StatsSnapshot,
};
use crate::image_ref::{ImageRef, Transport};

/// A push, computed before anything is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushPlan {
    /// Target repository.
    pub target: String,
    /// Digest of the pushed manifest (after annotations).
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Tags written.
    pub tags: Vec<String>,
    /// Annotations added to the manifest.
    pub annotations: BTreeMap<String, String>,
    /// Blob steps.
    pub blobs: Vec<BlobStep>,
    /// Child manifests PUT by digest first.
    pub child_manifests: Vec<String>,
    /// Write requests, in order.
    pub requests: Vec<String>,
}

/// A push's result.
#[derive(Debug, Clone, Serialize)]
pub struct PushOutcome {
    /// The plan (executed unless `dry_run`).
    pub plan: PushPlan,
    /// Whether it was only planned.
    pub dry_run: bool,
    /// Requests and bytes sent to the target.
    pub traffic: StatsSnapshot,
}

/// Options of [`push`].
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Which manifest of the layout (`org.opencontainers.image.ref.name`); needed when
    /// index.json lists several different manifests.
    pub source_tag: Option<String>,
    /// Annotations to add to the top manifest (revision, tree).
    pub annotations: BTreeMap<String, String>,
    /// A repository on the target registry to mount missing blobs from.
    pub mount_from: Option<String>,
    /// Plan only.
    pub dry_run: bool,
    /// Uploads in flight at once.
    pub concurrency: usize,
}

/// The annotations recording what an image was built from.
pub fn build_annotations(revision: Option<&str>, tree: Option<&str>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(r) = revision {
        out.insert(ANNOTATION_REVISION.to_owned(), r.to_owned());
    }
    if let Some(t) = tree {
        out.insert(ANNOTATION_TREE.to_owned(), t.to_owned());
    }
    out
}

/// Returns `manifest` with `annotations` merged into its top-level `annotations` (a new
/// manifest with a new digest), or unchanged when there is nothing to add.
pub fn annotate(manifest: &Manifest, annotations: &BTreeMap<String, String>) -> Result<Manifest> {
    if annotations.is_empty() {
        return Ok(manifest.clone());
    }
    let mut value: serde_json::Value =
        serde_json::from_slice(&manifest.bytes).map_err(|source| RegistryError::InvalidJson {
            reference: manifest.digest.clone(),
            what: "manifest".to_owned(),
            source,
        })?;
    let Some(object) = value.as_object_mut() else {
        return Err(RegistryError::InvalidReference {
            reference: manifest.digest.clone(),
            reason: "the manifest is not a JSON object".to_owned(),
        });
    };
    let slot = object
        .entry("annotations")
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    if let Some(map) = slot.as_object_mut() {
        for (k, v) in annotations {
            map.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
    }
    let bytes = serde_json::to_vec(&value).map_err(|source| RegistryError::InvalidJson {
        reference: manifest.digest.clone(),
        what: "annotated manifest".to_owned(),
        source,
    })?;
    Ok(Manifest::from_bytes(bytes, &manifest.media_type))
}

/// A built image on disk: an OCI layout directory, or a tar unpacked into a temporary one
/// (removed on drop).
#[derive(Debug)]
pub struct ImageSource {
    layout: LayoutRegistry,
    reference: ImageRef,
    temporary: Option<PathBuf>,
}

impl Drop for ImageSource {
    fn drop(&mut self) {
        if let Some(dir) = &self.temporary {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl ImageSource {
    /// Opens a layout directory or unpacks a tar (optionally gzip-compressed).
    pub fn open(path: &Path) -> Result<Self> {
        let io = |action: &str, source: std::io::Error| RegistryError::Io {
            path: path.display().to_string(),
            action: action.to_owned(),
            source,
        };
        let (dir, temporary) = if path.is_dir() {
            (path.to_path_buf(), None)
        } else {
            let file = std::fs::File::open(path).map_err(|e| io("opening the image tar", e))?;
            let mut magic = [0u8; 2];
            {
                use std::io::Read as _;
                let mut probe =
                    std::fs::File::open(path).map_err(|e| io("opening the image tar", e))?;
                let _ = probe.read(&mut magic);
            }
            let dir = std::env::temp_dir().join(format!(
                "gitops-push-{}-{}",
                std::process::id(),
                rand::random::<u64>()
            ));
            std::fs::create_dir_all(&dir).map_err(|e| io("creating a temporary directory", e))?;
            let unpacked = if magic == [0x1f, 0x8b] {
                tar::Archive::new(flate2::read::GzDecoder::new(file)).unpack(&dir)
            } else {
                tar::Archive::new(file).unpack(&dir)
            };
            if let Err(e) = unpacked {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(io("unpacking the image tar", e));
            }
            (dir.clone(), Some(dir))
        };
        if !dir.join("index.json").is_file() {
            if let Some(t) = &temporary {
                let _ = std::fs::remove_dir_all(t);
            }
            return Err(RegistryError::InvalidReference {
                reference: path.display().to_string(),
                reason: "not an OCI image layout (no index.json); build with `docker buildx build --output type=oci,dest=image.tar` or point at the layout directory".to_owned(),
            });
        }
        let reference = ImageRef {
            transport: Transport::Layout,
            registry: None,
            repository: dir.display().to_string(),
            tag: None,
            digest: None,
        };
        Ok(Self {
            layout: LayoutRegistry::open(&dir)?,
            reference,
            temporary,
        })
    }

    /// The top manifest: the one tagged `tag`, else the only manifest in index.json.
    pub async fn top_manifest(&self, tag: Option<&str>) -> Result<Manifest> {
        let registry = Registry::Layout(self.layout.clone());
        if let Some(tag) = tag {
            let reference = ImageRef {
                tag: Some(tag.to_owned()),
                ..self.reference.clone()
            };
            return registry.get_manifest(&reference).await;
        }
        let index_path = self.layout.root().join("index.json");
        let bytes = std::fs::read(&index_path).map_err(|source| RegistryError::Io {
            path: index_path.display().to_string(),
            action: "reading".to_owned(),
            source,
        })?;
        let index = Manifest::from_bytes(bytes, super::OCI_INDEX);
        let mut entries = index.children()?;
        entries.dedup_by(|a, b| a.digest == b.digest);
        match entries.as_slice() {
            [only] => {
                let reference = ImageRef {
                    digest: Some(only.digest.clone()),
                    ..self.reference.clone()
                };
                registry.get_manifest(&reference).await
            }
            [] => Err(RegistryError::NotFound {
                reference: index_path.display().to_string(),
                what: "index.json lists no manifest".to_owned(),
            }),
            many => Err(RegistryError::InvalidReference {
                reference: index_path.display().to_string(),
                reason: format!(
                    "index.json lists {} manifests ({}); choose one with --source-tag",
                    many.len(),
                    many.iter()
                        .map(|d| d
                            .annotations
                            .as_ref()
                            .and_then(|a| a.get(ANNOTATION_REF_NAME).cloned())
                            .unwrap_or_else(|| d.digest.clone()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }
}

/// Pushes the image in `source` to `target` (a repository) under every tag in `tags`.
pub async fn push(
    source: &ImageSource,
    dst: &Registry,
    target: &ImageRef,
    tags: &[String],
    options: &PushOptions,
) -> Result<PushOutcome> {
    let start = dst.stats();
    let src = Registry::Layout(source.layout.clone());
    let original = source.top_manifest(options.source_tag.as_deref()).await?;
    let manifest = annotate(&original, &options.annotations)?;
    let (blobs, children) = collect_image(&src, &source.reference, &original).await?;
    let target_repo = target.without_tag_or_digest();
    let mut steps = Vec::with_capacity(blobs.len());
    for blob in blobs {
        let present = dst.has_blob(&target_repo, &blob.digest).await?;
        steps.push(BlobStep {
            digest: blob.digest,
            size: blob.size,
            action: match (&options.mount_from, present) {
                (_, true) => BlobAction::Present,
                (Some(from), false) => BlobAction::Mount { from: from.clone() },
                (None, false) => BlobAction::Copy,
            },
        });
    }
    let kind = TargetKind::of(target);
    let child_manifests: Vec<String> = children.iter().map(|c| c.digest.clone()).collect();
    let mut requests: Vec<String> = steps.iter().flat_map(|b| kind.blob_requests(b)).collect();
    requests.extend(child_manifests.iter().map(|c| kind.manifest_put(c)));
    requests.extend(tags.iter().map(|t| kind.manifest_put(t)));
    let plan = PushPlan {
        target: target_repo.to_string(),
        digest: manifest.digest.clone(),
        media_type: manifest.media_type.clone(),
        tags: tags.to_vec(),
        annotations: options.annotations.clone(),
        blobs: steps,
        child_manifests,
        requests,
    };
    if !options.dry_run {
        transfer_blobs(
            &src,
            &source.reference,
            dst,
            &target_repo,
            &plan.blobs,
            options.concurrency,
        )
        .await?;
        for child in &children {
            dst.put_manifest(&target_repo, &child.digest, child).await?;
        }
        for tag in tags {
            dst.put_manifest(&target_repo, tag, &manifest).await?;
        }
    }
    let end = dst.stats();
    Ok(PushOutcome {
        plan,
        dry_run: options.dry_run,
        traffic: StatsSnapshot {
            requests: end.requests - start.requests.min(end.requests),
            bytes_sent: end.bytes_sent - start.bytes_sent.min(end.bytes_sent),
            bytes_received: end.bytes_received - start.bytes_received.min(end.bytes_received),
        },
    })
}
