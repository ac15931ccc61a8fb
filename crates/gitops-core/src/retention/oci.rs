//! Retention against an OCI distribution registry or an OCI image-layout directory, through
//! [`crate::registry::Registry`].
//!
//! Inventory: one tag listing, then one manifest GET per tag (bounded concurrency). A GET
//! costs the same single request as a HEAD and also gives index children, the referrer
//! subject and the layer sizes. Deletes: a tag DELETE is tried once; registries that cannot
//! delete tags (distribution 2.8 answers 400, 405 with deletes disabled) get digest DELETEs
//! from then on, which the planner only asks for when every tag on the digest is due.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};

use futures::StreamExt as _;

use super::executor::{Progress, Removed, Result, RetentionBackend, RetentionError};
use super::planner::{Deletion, Inventory, ManifestRecord, TagRecord};
use crate::image_ref::ImageRef;
use crate::registry::{Registry, RegistryError, TagDeletion};

const TAGS_UNKNOWN: u8 = 0;
const TAGS_DELETABLE: u8 = 1;
const DIGEST_ONLY: u8 = 2;

/// Retention backend for distribution registries and OCI layouts.
#[derive(Debug)]
pub struct OciBackend {
    registry: Registry,
    repository: ImageRef,
    concurrency: usize,
    tag_deletion: AtomicU8,
    probe: futures::lock::Mutex<()>,
}

impl OciBackend {
    /// A backend for `repository` (its tag or digest is ignored) on `registry`.
    pub fn new(registry: Registry, repository: &ImageRef, concurrency: usize) -> Self {
        Self {
            registry,
            repository: repository.without_tag_or_digest(),
            concurrency: concurrency.max(1),
            tag_deletion: AtomicU8::new(TAGS_UNKNOWN),
            probe: futures::lock::Mutex::new(()),
        }
    }

    /// The registry client (for resolving overlay tags with the same connection).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    fn tag_ref(&self, tag: &str) -> Result<ImageRef> {
        self.repository
            .with_tag(tag)
            .map_err(|err| RetentionError::IncompleteResolve {
                repository: self.repository.name(),
                tag: tag.to_owned(),
                message: err.to_string(),
                source: Some(Box::new(err)),
            })
    }

    fn delete_error(&self, reference: &str, err: RegistryError) -> RetentionError {
        match err {
            RegistryError::Unsupported { .. } => RetentionError::Unsupported {
                backend: self.registry.describe(),
                reference: reference.to_owned(),
                message: format!(
                    "{err}; enable deletes on the registry (distribution: storage.delete.enabled: true)"
                ),
            },
            other => RetentionError::Delete {
                reference: reference.to_owned(),
                message: other.to_string(),
                source: Some(Box::new(other)),
            },
        }
    }

    async fn delete_digest(&self, digest: &str) -> Result<Removed> {
        let shown = format!("{}@{digest}", self.repository.name());
        match self
            .registry
            .delete_manifest(&self.repository, digest)
            .await
        {
            Ok(()) => Ok(Removed::Deleted),
            Err(RegistryError::NotFound { .. }) => Ok(Removed::AlreadyGone),
            Err(err) => Err(self.delete_error(&shown, err)),
        }
    }
}

impl RetentionBackend for OciBackend {
    fn describe(&self) -> String {
        format!("{} ({})", self.registry.describe(), self.repository.name())
    }

    async fn inventory(&self, progress: &dyn Progress) -> Result<Inventory> {
        let name = self.repository.name();
        let tags = self.list_tags().await?;
        progress.start("resolving tags", tags.len() as u64);
        let mut records: Vec<TagRecord> = Vec::with_capacity(tags.len());
        let mut manifests: HashMap<String, ManifestRecord> = HashMap::new();
        let mut stream = futures::stream::iter(tags.iter().map(|tag| async move {
            let reference = self.tag_ref(tag)?;
            let manifest = self
                .registry
                .get_manifest(&reference)
                .await
                .map_err(|err| RetentionError::IncompleteResolve {
                    repository: self.repository.name(),
                    tag: tag.clone(),
                    message: err.to_string(),
                    source: Some(Box::new(err)),
                })?;
            Ok::<_, RetentionError>((tag.clone(), manifest))
        }))
        .buffer_unordered(self.concurrency);
        while let Some(result) = stream.next().await {
            progress.advance(1);
            let (tag, manifest) = result?;
            if !manifests.contains_key(&manifest.digest) {
                let children = manifest
                    .children()
                    .map(|c| c.into_iter().map(|d| d.digest).collect())
                    .unwrap_or_default();
                let subject = manifest.subject().ok().flatten().map(|d| d.digest);
                let size = manifest.blobs().ok().and_then(|blobs| {
                    (!manifest.is_index()).then(|| {
                        blobs
                            .iter()
                            .map(|b| b.size)
                            .sum::<u64>()
                            .saturating_add(manifest.bytes.len() as u64)
                    })
                });
                manifests.insert(
                    manifest.digest.clone(),
                    ManifestRecord {
                        digest: manifest.digest.clone(),
                        children,
                        subject,
                        size,
                        pushed_at: None,
                    },
                );
            }
            records.push(TagRecord {
                tag,
                digest: manifest.digest,
                pushed_at: None,
            });
        }
        progress.finish();
        // Listing order, so plans do not depend on response order.
        records.sort_by(|a, b| a.tag.cmp(&b.tag));
        let mut manifests: Vec<ManifestRecord> = manifests.into_values().collect();
        manifests.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(Inventory {
            repository: name,
            tags: records,
            manifests,
        })
    }

    async fn list_tags(&self) -> Result<Vec<String>> {
        self.registry
            .list_tags(&self.repository)
            .await
            .map_err(|err| RetentionError::IncompleteListing {
                repository: self.repository.name(),
                message: err.to_string(),
                source: Some(Box::new(err)),
            })
    }

    async fn resolve(&self, tag: &str) -> Result<Option<String>> {
        let reference = self.tag_ref(tag)?;
        match self.registry.try_resolve(&reference).await {
            Ok(d) => Ok(d.map(|d| d.digest)),
            Err(err) => Err(RetentionError::IncompleteResolve {
                repository: self.repository.name(),
                tag: tag.to_owned(),
                message: err.to_string(),
                source: Some(Box::new(err)),
            }),
        }
    }

    async fn delete(&self, deletion: &Deletion) -> Result<Removed> {
        let mut tags: &[String] = &deletion.tags;
        if self.tag_deletion.load(Ordering::Relaxed) == TAGS_UNKNOWN {
            // One probe per run, even with concurrent deletes.
            let _guard = self.probe.lock().await;
            if self.tag_deletion.load(Ordering::Relaxed) == TAGS_UNKNOWN
                && let Some((first, rest)) = tags.split_first()
            {
                match self.registry.delete_tag(&self.repository, first).await {
                    Ok(TagDeletion::Deleted) => {
                        self.tag_deletion.store(TAGS_DELETABLE, Ordering::Relaxed);
                    }
                    Ok(TagDeletion::OnlyDigestDeletion) => {
                        self.tag_deletion.store(DIGEST_ONLY, Ordering::Relaxed);
                    }
                    Err(RegistryError::NotFound { .. }) => {}
                    Err(err) => {
                        let shown = format!("{}:{first}", self.repository.name());
                        return Err(self.delete_error(&shown, err));
                    }
                }
                tags = rest;
            }
        }
        if self.tag_deletion.load(Ordering::Relaxed) == TAGS_DELETABLE {
            for tag in tags {
                match self.registry.delete_tag(&self.repository, tag).await {
                    Ok(_) | Err(RegistryError::NotFound { .. }) => {}
                    Err(err) => {
                        let shown = format!("{}:{tag}", self.repository.name());
                        return Err(self.delete_error(&shown, err));
                    }
                }
            }
        }
        // The planner deletes whole digests: every tag on it was due and nothing kept refers
        // to it, so the manifest goes too (after its tags where tags can be deleted).
        self.delete_digest(&deletion.digest).await
    }

    fn requests(&self) -> Option<u64> {
        Some(self.registry.stats().requests)
    }
}
