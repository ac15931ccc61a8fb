//! An OCI image-layout directory as a registry (`oci:PATH:tag`): blobs under
//! `blobs/<alg>/<hex>`, tags as `org.opencontainers.image.ref.name` annotations in
//! `index.json`. Writes go to a temporary file and are renamed into place, so a reader never
//! sees half a blob or half an index; every blob read is verified against its digest.
//!
//! The directory is one repository: the repository part of references is ignored.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::{
    ANNOTATION_REF_NAME, Descriptor, Manifest, OCI_INDEX, RegistryError, Result, Stats,
    StatsSnapshot, TagDeletion, is_digest, verify_digest,
};
use crate::image_ref::ImageRef;

/// An OCI layout directory. Clones share the index lock and counters.
#[derive(Debug, Clone)]
pub struct LayoutRegistry {
    root: PathBuf,
    lock: Arc<Mutex<()>>,
    stats: Stats,
}

/// `index.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayoutIndex {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<serde_json::Value>,
}

fn io_error(path: &Path, action: &str, source: std::io::Error) -> RegistryError {
    RegistryError::Io {
        path: path.display().to_string(),
        action: action.to_owned(),
        source,
    }
}

fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations
        .as_ref()?
        .get(ANNOTATION_REF_NAME)
        .map(String::as_str)
}

impl LayoutRegistry {
    /// Opens (or, on first write, creates) the layout at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self {
            root: path.as_ref().to_path_buf(),
            lock: Arc::new(Mutex::new(())),
            stats: Stats::default(),
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Operations so far (reads and writes) and bytes moved.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// `layout PATH`.
    pub fn describe(&self) -> String {
        format!("layout {}", self.root.display())
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        let (alg, hex) = digest.split_once(':').unwrap_or(("", ""));
        if !is_digest(digest) {
            return Err(RegistryError::InvalidReference {
                reference: format!("oci:{}@{digest}", self.root.display()),
                reason: "expected a sha256 digest".to_owned(),
            });
        }
        Ok(self.root.join("blobs").join(alg).join(hex))
    }

    fn shown(&self, reference: &str) -> String {
        if reference.contains(':') {
            format!("oci:{}@{reference}", self.root.display())
        } else {
            format!("oci:{}:{reference}", self.root.display())
        }
    }

    async fn read_index(&self) -> Result<LayoutIndex> {
        let path = self.root.join("index.json");
        match tokio::fs::read(&path).await {
            Ok(bytes) => {
                self.stats.record(0, bytes.len() as u64);
                serde_json::from_slice(&bytes).map_err(|source| RegistryError::InvalidJson {
                    reference: path.display().to_string(),
                    what: "OCI layout index.json".to_owned(),
                    source,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LayoutIndex {
                schema_version: 2,
                media_type: Some(OCI_INDEX.to_owned()),
                manifests: Vec::new(),
                annotations: None,
            }),
            Err(e) => Err(io_error(&path, "reading", e)),
        }
    }

    /// Writes `bytes` to `path` through a temporary file in the same directory + rename.
    async fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let dir = path.parent().unwrap_or(&self.root);
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| io_error(dir, "creating the directory", e))?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let tmp = dir.join(format!(
            ".{name}.tmp-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        tokio::fs::write(&tmp, bytes)
            .await
            .map_err(|e| io_error(&tmp, "writing", e))?;
        if let Err(e) = tokio::fs::rename(&tmp, path).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io_error(path, "renaming into place", e));
        }
        self.stats.record(bytes.len() as u64, 0);
        Ok(())
    }

    async fn write_index(&self, index: &LayoutIndex) -> Result<()> {
        let marker = self.root.join("oci-layout");
        if !marker.exists() {
            self.write_atomic(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)
                .await?;
        }
        let bytes =
            serde_json::to_vec_pretty(index).map_err(|source| RegistryError::InvalidJson {
                reference: self.root.display().to_string(),
                what: "index.json being written".to_owned(),
                source,
            })?;
        self.write_atomic(&self.root.join("index.json"), &bytes)
            .await
    }

    async fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest)?;
        let shown = self.shown(digest);
        let bytes = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RegistryError::NotFound {
                    reference: shown,
                    what: "blob missing from the layout".to_owned(),
                });
            }
            Err(e) => return Err(io_error(&path, "reading", e)),
        };
        self.stats.record(0, bytes.len() as u64);
        verify_digest(&shown, digest, &bytes)?;
        Ok(bytes)
    }

    /// The descriptor for a tag (last entry wins) or a digest.
    async fn find(&self, reference: &str) -> Result<Descriptor> {
        let index = self.read_index().await?;
        let found = if is_digest(reference) {
            index
                .manifests
                .iter()
                .rev()
                .find(|d| d.digest == reference)
                .cloned()
        } else {
            index
                .manifests
                .iter()
                .rev()
                .find(|d| ref_name(d) == Some(reference))
                .cloned()
        };
        match found {
            Some(d) => Ok(d),
            // A digest not in index.json may still be a blob (a child of an index).
            None if is_digest(reference) && self.blob_path(reference)?.is_file() => {
                let bytes = self.read_blob(reference).await?;
                Ok(Manifest::from_bytes(bytes, "").descriptor())
            }
            None => Err(RegistryError::NotFound {
                reference: self.shown(reference),
                what: "no such tag in index.json".to_owned(),
            }),
        }
    }

    /// Resolves a tag or digest from index.json.
    pub async fn resolve(&self, reference: &ImageRef) -> Result<Descriptor> {
        let mut d = self.find(reference.reference_or_latest()).await?;
        d.annotations = None;
        Ok(d)
    }

    /// Reads a manifest blob (verified).
    pub async fn get_manifest(&self, reference: &ImageRef) -> Result<Manifest> {
        let d = self.find(reference.reference_or_latest()).await?;
        let bytes = self.read_blob(&d.digest).await?;
        Ok(Manifest::from_bytes(bytes, &d.media_type))
    }

    /// Writes the manifest blob and, for a tag, points the tag at it in index.json.
    pub async fn put_manifest(
        &self,
        _repository: &ImageRef,
        tag_or_digest: &str,
        manifest: &Manifest,
    ) -> Result<String> {
        self.put_blob_bytes(&manifest.digest, &manifest.bytes)
            .await?;
        if is_digest(tag_or_digest) {
            if tag_or_digest != manifest.digest {
                return Err(RegistryError::DigestMismatch {
                    reference: self.shown(tag_or_digest),
                    expected: tag_or_digest.to_owned(),
                    actual: manifest.digest.clone(),
                });
            }
            return Ok(manifest.digest.clone());
        }
        if !crate::tag::is_valid_tag(tag_or_digest) {
            return Err(RegistryError::InvalidReference {
                reference: self.shown(tag_or_digest),
                reason: "not a valid OCI tag".to_owned(),
            });
        }
        let _guard = self.lock.lock().await;
        let mut index = self.read_index().await?;
        index
            .manifests
            .retain(|d| ref_name(d) != Some(tag_or_digest));
        let mut d = manifest.descriptor();
        d.annotations = Some([(ANNOTATION_REF_NAME.to_owned(), tag_or_digest.to_owned())].into());
        index.manifests.push(d);
        self.write_index(&index).await?;
        Ok(manifest.digest.clone())
    }

    /// Every tag named in index.json.
    pub async fn list_tags(&self, _repository: &ImageRef) -> Result<Vec<String>> {
        let index = self.read_index().await?;
        let mut tags: Vec<String> = index
            .manifests
            .iter()
            .filter_map(|d| ref_name(d).map(str::to_owned))
            .collect();
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    /// Whether the blob file exists.
    pub async fn has_blob(&self, _repository: &ImageRef, digest: &str) -> Result<bool> {
        self.stats.record(0, 0);
        Ok(self.blob_path(digest)?.is_file())
    }

    /// Reads a blob (verified).
    pub async fn get_blob(&self, _repository: &ImageRef, digest: &str) -> Result<Vec<u8>> {
        self.read_blob(digest).await
    }

    async fn put_blob_bytes(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        verify_digest(&self.shown(digest), digest, bytes)?;
        let path = self.blob_path(digest)?;
        if path.is_file() {
            return Ok(());
        }
        self.write_atomic(&path, bytes).await
    }

    /// Writes a blob (verified first).
    pub async fn put_blob(
        &self,
        _repository: &ImageRef,
        digest: &str,
        bytes: Vec<u8>,
    ) -> Result<()> {
        self.put_blob_bytes(digest, &bytes).await
    }

    /// A layout is one repository: mounting means the blob is already there.
    pub async fn mount_blob(
        &self,
        repository: &ImageRef,
        digest: &str,
        _from: &ImageRef,
    ) -> Result<bool> {
        self.has_blob(repository, digest).await
    }

    /// Removes the tag from index.json (the blobs stay).
    pub async fn delete_tag(&self, _repository: &ImageRef, tag: &str) -> Result<TagDeletion> {
        let _guard = self.lock.lock().await;
        let mut index = self.read_index().await?;
        let before = index.manifests.len();
        index.manifests.retain(|d| ref_name(d) != Some(tag));
        if index.manifests.len() == before {
            return Err(RegistryError::NotFound {
                reference: self.shown(tag),
                what: "no such tag in index.json".to_owned(),
            });
        }
        self.write_index(&index).await?;
        Ok(TagDeletion::Deleted)
    }

    /// Removes every index.json entry with this digest and the manifest blob (layers stay
    /// until a garbage collection; they may be shared).
    pub async fn delete_manifest(&self, _repository: &ImageRef, digest: &str) -> Result<()> {
        let path = self.blob_path(digest)?;
        let _guard = self.lock.lock().await;
        let mut index = self.read_index().await?;
        let before = index.manifests.len();
        index.manifests.retain(|d| d.digest != digest);
        if index.manifests.len() == before && !path.is_file() {
            return Err(RegistryError::NotFound {
                reference: self.shown(digest),
                what: "manifest unknown".to_owned(),
            });
        }
        self.write_index(&index).await?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(&path, "removing", e)),
        }
    }
}
