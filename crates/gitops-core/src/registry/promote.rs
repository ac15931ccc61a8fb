//! Promotion: give an existing digest new tags, in the same repository (one GET and one
//! PUT per new tag, no blob traffic) or in another repository or registry (blobs mounted,
//! else copied; index children before the index).
//!
//! [`plan_promotion`] is pure: it turns what was read from the registry into a
//! [`PromotionPlan`] (tags to write and skip, blob steps, the write requests). [`promote`]
//! reads, plans, and executes unless asked for a dry run.

use std::collections::BTreeMap;

use futures::{StreamExt as _, TryStreamExt as _};
use serde::Serialize;

use super::{Descriptor, Manifest, Registry, Result, StatsSnapshot};
use crate::image_ref::{ImageRef, Transport};

/// What happens to one blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum BlobAction {
    /// The target already has it.
    Present,
    /// Cross-repository mount from this repository (same registry); copied if refused.
    Mount {
        /// Source repository.
        from: String,
    },
    /// Bytes copied (read from the source, uploaded to the target).
    Copy,
}

/// One blob of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobStep {
    /// Digest.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// What to do.
    #[serde(flatten)]
    pub action: BlobAction,
}

/// A tag left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedTag {
    /// The tag.
    pub tag: String,
    /// Why it is not written.
    pub reason: String,
}

/// Where the target lives, for rendering request lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum TargetKind {
    /// An HTTP registry repository path (`app`, `team/app`).
    Http(String),
    /// An OCI layout directory.
    Layout(String),
}

impl TargetKind {
    /// The kind for a reference.
    pub fn of(reference: &ImageRef) -> Self {
        match reference.transport {
            Transport::Layout => Self::Layout(reference.repository.clone()),
            Transport::Registry => Self::Http(reference.repository.clone()),
        }
    }

    pub(crate) fn manifest_put(&self, reference: &str) -> String {
        match self {
            Self::Http(repo) => format!("PUT /v2/{repo}/manifests/{reference}"),
            Self::Layout(dir) if reference.contains(':') => {
                format!("write {dir}/blobs/{}", reference.replace(':', "/"))
            }
            Self::Layout(dir) => format!("write {dir}/index.json (tag {reference})"),
        }
    }

    pub(crate) fn blob_requests(&self, step: &BlobStep) -> Vec<String> {
        let d = &step.digest;
        match (self, &step.action) {
            (_, BlobAction::Present) => Vec::new(),
            (Self::Http(repo), BlobAction::Mount { from }) => {
                vec![format!(
                    "POST /v2/{repo}/blobs/uploads/?mount={d}&from={from}"
                )]
            }
            (Self::Http(repo), BlobAction::Copy) => vec![
                format!("GET <source>/blobs/{d}"),
                format!("POST /v2/{repo}/blobs/uploads/"),
                format!("PUT <upload location>?digest={d} ({} bytes)", step.size),
            ],
            (Self::Layout(dir), _) => vec![format!(
                "write {dir}/blobs/{} ({} bytes)",
                d.replace(':', "/"),
                step.size
            )],
        }
    }
}

/// A promotion, computed before anything is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromotionPlan {
    /// The source reference as given.
    pub source: String,
    /// The target repository.
    pub target: String,
    /// The digest being promoted.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Tags to write, in order.
    pub tags_to_write: Vec<String>,
    /// Tags not written, with reasons.
    pub tags_skipped: Vec<SkippedTag>,
    /// Blob steps (cross-repository only).
    pub blobs: Vec<BlobStep>,
    /// Child manifests to PUT by digest before the tags (cross-repository index).
    pub child_manifests: Vec<String>,
    /// The write requests this plan makes, in order.
    pub requests: Vec<String>,
}

impl PromotionPlan {
    /// Whether executing the plan writes anything.
    pub fn is_noop(&self) -> bool {
        self.requests.is_empty()
    }
}

/// What [`plan_promotion`] needs to know.
#[derive(Debug, Clone)]
pub struct PlanInput {
    /// Source reference, for display.
    pub source: String,
    /// Target repository, for display.
    pub target: String,
    /// Where the target lives.
    pub target_kind: TargetKind,
    /// The manifest being promoted.
    pub manifest: Descriptor,
    /// Tags wanted, in order.
    pub tags: Vec<String>,
    /// The environment's moving tag (`staging-latest`), if one of `tags`: when it already
    /// points at the digest, the environment has the image and nothing is written.
    pub moving_tag: Option<String>,
    /// What each checked tag points at now (`None`: absent). Unchecked tags are missing.
    pub current: BTreeMap<String, Option<String>>,
    /// Blobs of the image with whether the target has them and where a mount may come
    /// from (`None`: same repository, nothing to do).
    pub blobs: Option<Vec<(Descriptor, bool)>>,
    /// Source repository for mounts (same registry), else bytes are copied.
    pub mount_from: Option<String>,
    /// Index children to PUT by digest in the target (cross-repository).
    pub children: Vec<String>,
}

/// Computes the plan: which tags to write or skip, and which blob steps are needed.
pub fn plan_promotion(input: PlanInput) -> PromotionPlan {
    let digest = input.manifest.digest.clone();
    let mut tags_to_write = Vec::new();
    let mut tags_skipped = Vec::new();
    let environment_has_it = input
        .moving_tag
        .as_ref()
        .is_some_and(|m| input.current.get(m).and_then(|d| d.as_deref()) == Some(digest.as_str()));
    for tag in &input.tags {
        if tags_to_write.contains(tag) || tags_skipped.iter().any(|s: &SkippedTag| &s.tag == tag) {
            continue;
        }
        let at = input.current.get(tag).and_then(|d| d.as_deref());
        if at == Some(digest.as_str()) {
            tags_skipped.push(SkippedTag {
                tag: tag.clone(),
                reason: "already points at the digest".to_owned(),
            });
        } else if environment_has_it {
            tags_skipped.push(SkippedTag {
                tag: tag.clone(),
                reason: format!(
                    "{} already points at the digest: the environment has this image",
                    input.moving_tag.as_deref().unwrap_or_default()
                ),
            });
        } else {
            tags_to_write.push(tag.clone());
        }
    }
    let (blobs, child_manifests) = if tags_to_write.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let blobs = input
            .blobs
            .unwrap_or_default()
            .into_iter()
            .map(|(d, present)| BlobStep {
                digest: d.digest,
                size: d.size,
                action: if present {
                    BlobAction::Present
                } else if let Some(from) = &input.mount_from {
                    BlobAction::Mount { from: from.clone() }
                } else {
                    BlobAction::Copy
                },
            })
            .collect::<Vec<_>>();
        (blobs, input.children)
    };
    let mut requests: Vec<String> = blobs
        .iter()
        .flat_map(|b| input.target_kind.blob_requests(b))
        .collect();
    requests.extend(
        child_manifests
            .iter()
            .map(|c| input.target_kind.manifest_put(c)),
    );
    requests.extend(
        tags_to_write
            .iter()
            .map(|t| input.target_kind.manifest_put(t)),
    );
    PromotionPlan {
        source: input.source,
        target: input.target,
        digest,
        media_type: input.manifest.media_type,
        tags_to_write,
        tags_skipped,
        blobs,
        child_manifests,
        requests,
    }
}

/// A promotion's result.
#[derive(Debug, Clone, Serialize)]
pub struct PromotionOutcome {
    /// The plan (executed unless `dry_run`).
    pub plan: PromotionPlan,
    /// Whether it was only planned.
    pub dry_run: bool,
    /// Requests and bytes, source and target together.
    pub traffic: StatsSnapshot,
}

/// Options of [`promote`].
#[derive(Debug, Clone, Default)]
pub struct PromoteOptions {
    /// The environment's moving tag among the tags (HEAD only this one when set).
    pub moving_tag: Option<String>,
    /// Plan only.
    pub dry_run: bool,
    /// Blob transfers in flight at once.
    pub concurrency: usize,
}

/// All blobs (config and layers) of a manifest and, for an index, of its children, with
/// the children's manifests. Children are read from `registry` by digest.
pub async fn collect_image(
    registry: &Registry,
    repository: &ImageRef,
    manifest: &Manifest,
) -> Result<(Vec<Descriptor>, Vec<Manifest>)> {
    let mut blobs = manifest.blobs()?;
    let mut children = Vec::new();
    for child in manifest.children()? {
        let child_ref = repository.without_tag_or_digest();
        let child_ref = ImageRef {
            digest: Some(child.digest.clone()),
            ..child_ref
        };
        let child_manifest = registry.get_manifest(&child_ref).await?;
        for blob in child_manifest.blobs()? {
            if !blobs.iter().any(|b| b.digest == blob.digest) {
                blobs.push(blob);
            }
        }
        children.push(child_manifest);
    }
    Ok((blobs, children))
}

fn add(a: StatsSnapshot, b: StatsSnapshot) -> StatsSnapshot {
    StatsSnapshot {
        requests: a.requests + b.requests,
        bytes_sent: a.bytes_sent + b.bytes_sent,
        bytes_received: a.bytes_received + b.bytes_received,
    }
}

fn sub(a: StatsSnapshot, b: StatsSnapshot) -> StatsSnapshot {
    StatsSnapshot {
        requests: a.requests.saturating_sub(b.requests),
        bytes_sent: a.bytes_sent.saturating_sub(b.bytes_sent),
        bytes_received: a.bytes_received.saturating_sub(b.bytes_received),
    }
}

/// Traffic of one or two backends (counted once when they are the same client).
pub fn traffic(a: &Registry, b: &Registry, same: bool) -> StatsSnapshot {
    if same {
        a.stats()
    } else {
        add(a.stats(), b.stats())
    }
}

/// Promotes `source` (tag or digest) to `tags` in `target` (a repository): reads the
/// manifest and HEADs the tags (only the moving tag when given) at the same time, plans,
/// then writes blobs (cross-repository), children, and one PUT per new tag.
pub async fn promote(
    src: &Registry,
    source: &ImageRef,
    dst: &Registry,
    target: &ImageRef,
    tags: &[String],
    options: &PromoteOptions,
) -> Result<PromotionOutcome> {
    let same_store = Registry::same_store(source, target);
    let start = traffic(src, dst, same_store);
    let (manifest, current) = futures::future::try_join(
        src.get_manifest(source),
        current_tags(dst, target, tags, options),
    )
    .await?;
    let mut outcome =
        promote_with(src, source, &manifest, dst, target, tags, options, current).await?;
    outcome.traffic = sub(traffic(src, dst, same_store), start);
    Ok(outcome)
}

/// Like [`promote`], for a manifest already read from `source` (by tag or digest), so a
/// caller that needed it first (to read its revision annotation) does not GET it twice.
pub async fn promote_manifest(
    src: &Registry,
    source: &ImageRef,
    manifest: &Manifest,
    dst: &Registry,
    target: &ImageRef,
    tags: &[String],
    options: &PromoteOptions,
) -> Result<PromotionOutcome> {
    let same_store = Registry::same_store(source, target);
    let start = traffic(src, dst, same_store);
    let current = current_tags(dst, target, tags, options).await?;
    let mut outcome =
        promote_with(src, source, manifest, dst, target, tags, options, current).await?;
    outcome.traffic = sub(traffic(src, dst, same_store), start);
    Ok(outcome)
}

/// What the checked tags point at now: only the moving tag when it is among `tags`, else
/// every tag. The HEADs are independent and sent together.
async fn current_tags(
    dst: &Registry,
    target: &ImageRef,
    tags: &[String],
    options: &PromoteOptions,
) -> Result<BTreeMap<String, Option<String>>> {
    let target_repo = target.without_tag_or_digest();
    let checked: Vec<&String> = match &options.moving_tag {
        Some(m) if tags.contains(m) => vec![m],
        _ => tags.iter().collect(),
    };
    let mut references = Vec::with_capacity(checked.len());
    for tag in checked {
        let reference =
            target_repo
                .with_tag(tag)
                .map_err(|e| super::RegistryError::InvalidReference {
                    reference: format!("{}:{tag}", target_repo.name()),
                    reason: e.to_string(),
                })?;
        references.push((tag.clone(), reference));
    }
    let found = futures::future::try_join_all(
        references
            .iter()
            .map(|(_, reference)| dst.try_resolve(reference)),
    )
    .await?;
    Ok(references
        .into_iter()
        .zip(found)
        .map(|((tag, _), d)| (tag, d.map(|d| d.digest)))
        .collect())
}

#[allow(clippy::too_many_arguments)]
async fn promote_with(
    src: &Registry,
    source: &ImageRef,
    manifest: &Manifest,
    dst: &Registry,
    target: &ImageRef,
    tags: &[String],
    options: &PromoteOptions,
    current: BTreeMap<String, Option<String>>,
) -> Result<PromotionOutcome> {
    let same_store = Registry::same_store(source, target);
    let target_repo = target.without_tag_or_digest();
    let same_repo = same_store && source.repository == target.repository;
    let mut input = PlanInput {
        source: source.to_string(),
        target: target_repo.to_string(),
        target_kind: TargetKind::of(target),
        manifest: manifest.descriptor(),
        tags: tags.to_vec(),
        moving_tag: options.moving_tag.clone(),
        current,
        blobs: None,
        mount_from: None,
        children: Vec::new(),
    };
    let mut child_manifests = Vec::new();
    let preliminary = plan_promotion(input.clone());
    if !same_repo && !preliminary.tags_to_write.is_empty() {
        let (blobs, children) = collect_image(src, source, manifest).await?;
        let presence: Vec<bool> = futures::stream::iter(
            blobs
                .iter()
                .map(|blob| dst.has_blob(&target_repo, &blob.digest)),
        )
        .buffered(options.concurrency.max(1))
        .try_collect()
        .await?;
        input.blobs = Some(blobs.into_iter().zip(presence).collect());
        input.mount_from = (same_store && source.transport == Transport::Registry)
            .then(|| source.repository.clone());
        input.children = children.iter().map(|c| c.digest.clone()).collect();
        child_manifests = children;
    }
    let plan = plan_promotion(input);
    if !options.dry_run {
        execute(
            src,
            source,
            dst,
            &target_repo,
            manifest,
            &child_manifests,
            &plan,
            options.concurrency,
        )
        .await?;
    }
    Ok(PromotionOutcome {
        plan,
        dry_run: options.dry_run,
        traffic: traffic(src, dst, same_store),
    })
}

/// Transfers the blob steps of a plan with bounded concurrency.
pub(crate) async fn transfer_blobs(
    src: &Registry,
    source: &ImageRef,
    dst: &Registry,
    target: &ImageRef,
    blobs: &[BlobStep],
    concurrency: usize,
) -> Result<()> {
    futures::stream::iter(
        blobs
            .iter()
            .filter(|b| b.action != BlobAction::Present)
            .map(Ok),
    )
    .try_for_each_concurrent(concurrency.max(1), |step| async move {
        if let BlobAction::Mount { from } = &step.action {
            let from_ref = ImageRef {
                repository: from.clone(),
                ..source.without_tag_or_digest()
            };
            if dst.mount_blob(target, &step.digest, &from_ref).await? {
                return Ok(());
            }
        }
        let bytes = src.get_blob(source, &step.digest).await?;
        dst.put_blob(target, &step.digest, bytes).await
    })
    .await
}

#[allow(clippy::too_many_arguments)]
async fn execute(
    src: &Registry,
    source: &ImageRef,
    dst: &Registry,
    target: &ImageRef,
    manifest: &Manifest,
    children: &[Manifest],
    plan: &PromotionPlan,
    concurrency: usize,
) -> Result<()> {
    transfer_blobs(src, source, dst, target, &plan.blobs, concurrency).await?;
    let child_puts: Vec<_> = children
        .iter()
        .filter(|c| plan.child_manifests.contains(&c.digest))
        .collect();
    futures::stream::iter(child_puts.into_iter().map(Ok))
        .try_for_each_concurrent(concurrency.max(1), |child| async move {
            dst.put_manifest(target, &child.digest, child)
                .await
                .map(|_| ())
        })
        .await?;
    // Tag PUTs are independent (same bytes): send them together.
    futures::future::try_join_all(
        plan.tags_to_write
            .iter()
            .map(|tag| dst.put_manifest(target, tag, manifest)),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(current: &[(&str, Option<&str>)]) -> PlanInput {
        PlanInput {
            source: "r/app:dev-1".into(),
            target: "r/app".into(),
            target_kind: TargetKind::Http("app".into()),
            manifest: Descriptor {
                media_type: super::super::OCI_MANIFEST.into(),
                digest: "sha256:aa".into(),
                size: 10,
                platform: None,
                annotations: None,
            },
            tags: vec![
                "staging-abc1234-20260101-000000".into(),
                "staging-latest".into(),
            ],
            moving_tag: Some("staging-latest".into()),
            current: current
                .iter()
                .map(|(t, d)| ((*t).to_owned(), d.map(str::to_owned)))
                .collect(),
            blobs: None,
            mount_from: None,
            children: Vec::new(),
        }
    }

    #[test]
    fn new_tags_are_written_in_order() {
        let plan = plan_promotion(input(&[("staging-latest", None)]));
        assert_eq!(plan.tags_to_write.len(), 2);
        assert_eq!(
            plan.requests,
            vec![
                "PUT /v2/app/manifests/staging-abc1234-20260101-000000",
                "PUT /v2/app/manifests/staging-latest"
            ]
        );
    }

    #[test]
    fn plan_as_json() {
        let plan = plan_promotion(input(&[("staging-latest", Some("sha256:bb"))]));
        insta::assert_json_snapshot!(plan, @r#"
        {
          "source": "r/app:dev-1",
          "target": "r/app",
          "digest": "sha256:aa",
          "media_type": "application/vnd.oci.image.manifest.v1+json",
          "tags_to_write": [
            "staging-abc1234-20260101-000000",
            "staging-latest"
          ],
          "tags_skipped": [],
          "blobs": [],
          "child_manifests": [],
          "requests": [
            "PUT /v2/app/manifests/staging-abc1234-20260101-000000",
            "PUT /v2/app/manifests/staging-latest"
          ]
        }
        "#);
    }

    #[test]
    fn moving_tag_at_digest_makes_a_noop() {
        let plan = plan_promotion(input(&[("staging-latest", Some("sha256:aa"))]));
        assert!(plan.is_noop());
        assert_eq!(plan.tags_skipped.len(), 2);
    }

    #[test]
    fn moving_tag_elsewhere_is_rewritten() {
        let plan = plan_promotion(input(&[("staging-latest", Some("sha256:bb"))]));
        assert_eq!(plan.tags_to_write.len(), 2);
    }

    #[test]
    fn cross_repo_blobs_mount_or_copy() {
        let mut i = input(&[]);
        let blob = |d: &str| Descriptor {
            media_type: String::new(),
            digest: d.into(),
            size: 5,
            platform: None,
            annotations: None,
        };
        i.blobs = Some(vec![(blob("sha256:01"), true), (blob("sha256:02"), false)]);
        i.mount_from = Some("src".into());
        let plan = plan_promotion(i);
        assert_eq!(plan.blobs[0].action, BlobAction::Present);
        assert_eq!(
            plan.blobs[1].action,
            BlobAction::Mount { from: "src".into() }
        );
        assert_eq!(
            plan.requests[0],
            "POST /v2/app/blobs/uploads/?mount=sha256:02&from=src"
        );
    }
}
