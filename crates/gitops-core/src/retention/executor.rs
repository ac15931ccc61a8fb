//! Carrying out a retention plan against a backend: re-resolve right before deleting, skip
//! what moved, stop at the first backend failure, fail closed on incomplete data.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use futures::StreamExt as _;

use super::planner::{Action, Deletion, Inventory, RetentionPlan, Rule};
use super::report::{ApplyReport, DeletionOutcome, DeletionStatus};

/// Why a retention run against a backend failed. In every case nothing unsafe was done: an
/// incomplete listing or resolve deletes nothing.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// The tag listing failed or was cut short.
    #[error(
        "listing the tags of {repository} failed, so nothing was deleted there (fail closed): {message}; retry when the registry is healthy"
    )]
    IncompleteListing {
        /// The repository.
        repository: String,
        /// What went wrong.
        message: String,
        /// The backend's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A tag could not be resolved to its digest.
    #[error(
        "resolving {repository}:{tag} failed, so nothing was deleted in {repository} (fail closed): {message}; retry when the registry is healthy"
    )]
    IncompleteResolve {
        /// The repository.
        repository: String,
        /// The tag.
        tag: String,
        /// What went wrong.
        message: String,
        /// The backend's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A delete (or the check right before it) failed.
    #[error("deleting {reference} failed: {message}")]
    Delete {
        /// The tag or digest.
        reference: String,
        /// What went wrong.
        message: String,
        /// The backend's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The backend cannot delete what the plan needs deleted.
    #[error("{backend} cannot delete {reference}: {message}")]
    Unsupported {
        /// The backend.
        backend: String,
        /// The tag or digest.
        reference: String,
        /// Why, and what to do.
        message: String,
    },
    /// The backend's configuration is unusable (missing token, bad repository name).
    #[error("{message}")]
    Config {
        /// What is wrong and what to do.
        message: String,
    },
}

/// Result alias of the executor.
pub type Result<T, E = RetentionError> = std::result::Result<T, E>;

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// The manifest (or version) is gone.
    Deleted,
    /// It was already gone.
    AlreadyGone,
}

/// A registry (or registry-like API) retention can run against.
pub trait RetentionBackend: Sync {
    /// Short name for messages (`registry 127.0.0.1:5000`, `GHCR acme/backend`).
    fn describe(&self) -> String;

    /// Every tag with its digest and what is known of the manifests; an error rather than a
    /// partial answer.
    fn inventory(&self, progress: &dyn Progress) -> impl Future<Output = Result<Inventory>>;

    /// Every tag name now (for the check right before deleting).
    fn list_tags(&self) -> impl Future<Output = Result<Vec<String>>>;

    /// The digest a tag points at now; `None` when the tag is gone.
    fn resolve(&self, tag: &str) -> impl Future<Output = Result<Option<String>>>;

    /// Deletes one planned digest with its tags.
    fn delete(&self, deletion: &Deletion) -> impl Future<Output = Result<Removed>>;

    /// Requests sent so far, when the backend counts them.
    fn requests(&self) -> Option<u64> {
        None
    }

    /// Called once after the deletions (DigitalOcean starts a garbage collection here).
    fn finish(&self, _deleted: usize) -> impl Future<Output = Result<bool>> {
        async { Ok(false) }
    }
}

/// Progress of a long phase; the binary draws a bar on a terminal and prints lines in CI.
pub trait Progress: Send + Sync {
    /// A phase starts with `total` steps.
    fn start(&self, phase: &str, total: u64);
    /// `n` more steps are done.
    fn advance(&self, n: u64);
    /// Something worth a line (a skipped or failed deletion).
    fn note(&self, message: &str);
    /// The phase is over.
    fn finish(&self);
}

/// Progress that shows nothing (library use and tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _phase: &str, _total: u64) {}
    fn advance(&self, _n: u64) {}
    fn note(&self, _message: &str) {}
    fn finish(&self) {}
}

/// How to carry out a plan.
#[derive(Debug, Clone, Copy)]
pub struct ExecuteOptions {
    /// Send deletions (`false`: dry run, nothing is sent).
    pub apply: bool,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Deletions between two checks of the repository's moving tags (the tag list, new tags,
    /// and the kept tags whose name does not pin an image: `*-latest`, protected,
    /// unparseable). One check always runs before the first delete.
    pub recheck_every: usize,
}

impl Default for ExecuteOptions {
    fn default() -> Self {
        Self {
            apply: false,
            concurrency: 8,
            recheck_every: 256,
        }
    }
}

/// Kept tags that may be re-pointed while a plan runs: their name does not pin one build
/// (`*-latest`, protected patterns, hand-made names). A kept tag moved onto a planned digest
/// would be deleted with it by a digest DELETE, so these are resolved again before deleting.
/// Version tags (`<env>-<sha>-<timestamp>`) are written once by the pipeline and are not.
pub fn moving_kept_tags(plan: &RetentionPlan) -> Vec<String> {
    plan.tags
        .iter()
        .filter(|t| {
            t.action == Action::Keep
                && matches!(
                    t.rule,
                    Rule::Latest
                        | Rule::Protected
                        | Rule::Unparseable
                        | Rule::UnknownEnvironment
                        | Rule::UnknownAge
                )
        })
        .map(|t| t.tag.clone())
        .collect()
}

/// Resolves `tags` with bounded concurrency; the first failure fails the whole batch.
pub async fn resolve_all<B: RetentionBackend>(
    backend: &B,
    repository: &str,
    tags: &[String],
    concurrency: usize,
    progress: &dyn Progress,
) -> Result<HashMap<String, Option<String>>> {
    let mut out = HashMap::with_capacity(tags.len());
    let mut stream = futures::stream::iter(
        tags.iter()
            .map(|tag| async move { (tag.clone(), backend.resolve(tag).await) }),
    )
    .buffer_unordered(concurrency.max(1));
    while let Some((tag, result)) = stream.next().await {
        progress.advance(1);
        match result {
            Ok(digest) => {
                out.insert(tag, digest);
            }
            Err(err) => {
                return Err(RetentionError::IncompleteResolve {
                    repository: repository.to_owned(),
                    tag,
                    message: err.to_string(),
                    source: Some(Box::new(err)),
                });
            }
        }
    }
    Ok(out)
}

/// Carries out (or dry-runs) a plan. Before deleting anything the tags are listed again; a
/// tag that appeared since planning and points at a planned digest makes that digest skipped.
/// Right before each delete the digest's tags are resolved again; if one moved, the digest is
/// skipped. A digest waits for the ones it depends on (its index, its subject) and is not
/// attempted if they were not deleted. The first backend failure stops the run: the rest is
/// reported as not attempted.
pub async fn execute<B: RetentionBackend>(
    backend: &B,
    plan: &RetentionPlan,
    options: ExecuteOptions,
    progress: &dyn Progress,
) -> ApplyReport {
    let outcome = |d: &Deletion, status| DeletionOutcome {
        digest: d.digest.clone(),
        tags: d.tags.clone(),
        size: d.size,
        status,
    };
    let mut report = ApplyReport {
        repository: plan.repository.clone(),
        applied: options.apply,
        outcomes: Vec::with_capacity(plan.deletions.len()),
        requests: None,
        garbage_collection_started: false,
    };
    if !options.apply || plan.deletions.is_empty() {
        report.outcomes = plan
            .deletions
            .iter()
            .map(|d| outcome(d, DeletionStatus::Planned))
            .collect();
        report.requests = backend.requests();
        return report;
    }

    let recheck_every = options.recheck_every.max(1);
    let moving = moving_kept_tags(plan);
    // Later checks resolve every moving tag when that costs at most a quarter of the
    // deletions between two checks; otherwise only the `*-latest` tags, which are the ones
    // re-pointed in practice (a rollback by re-tagging). The first check resolves them all.
    let recheck = if moving.len() <= recheck_every / 4 {
        moving.clone()
    } else {
        plan.tags
            .iter()
            .filter(|t| t.action == Action::Keep && t.rule == Rule::Latest)
            .map(|t| t.tag.clone())
            .collect()
    };
    let guard = Guard {
        repository: &plan.repository,
        planned: plan.tags.iter().map(|t| t.tag.as_str()).collect(),
        moving,
        recheck,
        concurrency: options.concurrency,
    };
    // Before anything is deleted: a failed check deletes nothing.
    let mut protected = match guard.check(backend, progress, &guard.moving).await {
        Ok(map) => map,
        Err(err) => return stop_all(report, plan, &err.to_string(), backend),
    };
    let mut since_check = 0usize;
    let mut check_error: Option<String> = None;

    progress.start("deleting", plan.deletions.len() as u64);
    let mut status: HashMap<&str, DeletionStatus> = HashMap::new();
    let mut failed = false;
    let mut pending: Vec<&Deletion> = plan.deletions.iter().collect();
    // Waves: everything whose prerequisites are settled runs concurrently (bounded), in
    // chunks between two checks. The loop ends because each wave settles at least one
    // deletion or stops.
    for _ in 0..=plan.deletions.len() {
        if pending.is_empty() {
            break;
        }
        let (ready, waiting): (Vec<&Deletion>, Vec<&Deletion>) = pending
            .into_iter()
            .partition(|d| d.after.iter().all(|a| status.contains_key(a.as_str())));
        pending = waiting;
        if ready.is_empty() {
            break;
        }
        let mut to_run = Vec::new();
        for d in ready {
            let blocked = d.after.iter().find(|a| {
                !matches!(
                    status.get(a.as_str()),
                    Some(DeletionStatus::Deleted | DeletionStatus::AlreadyGone)
                )
            });
            if failed {
                status.insert(&d.digest, DeletionStatus::NotAttempted);
            } else if let Some(a) = blocked {
                progress.note(&format!(
                    "not deleting {}: it depends on {} which was not deleted",
                    d.digest, a
                ));
                status.insert(&d.digest, DeletionStatus::NotAttempted);
            } else {
                to_run.push(d);
            }
        }
        let mut rest = to_run.as_slice();
        while !rest.is_empty() && !failed {
            if since_check >= recheck_every {
                // Silent: the deleting bar stays on screen.
                match guard.check(backend, &NoProgress, &guard.recheck).await {
                    Ok(map) => protected = map,
                    Err(err) => {
                        failed = true;
                        progress.note(&format!("stopped: checking tags again failed: {err}"));
                        check_error = Some(err.to_string());
                        break;
                    }
                }
                since_check = 0;
            }
            let take = rest.len().min(recheck_every - since_check);
            let (chunk, tail) = rest.split_at(take);
            rest = tail;
            since_check += chunk.len();
            let mut runnable = Vec::with_capacity(chunk.len());
            for &d in chunk {
                if let Some(tag) = protected.get(d.digest.as_str()) {
                    progress.note(&format!("skipped {}: tag {tag} points at it now", d.digest));
                    progress.advance(1);
                    status.insert(
                        &d.digest,
                        DeletionStatus::SkippedMoved {
                            tag: tag.clone(),
                            now: Some(d.digest.clone()),
                        },
                    );
                } else {
                    runnable.push(d);
                }
            }
            let mut stream = futures::stream::iter(
                runnable
                    .into_iter()
                    .map(|d| async move { (d, delete_one(backend, d).await) }),
            )
            .buffer_unordered(options.concurrency.max(1));
            while let Some((d, result)) = stream.next().await {
                progress.advance(1);
                let s = match result {
                    Ok(s) => s,
                    Err(err) => {
                        failed = true;
                        progress.note(&format!("failed to delete {}: {err}", d.digest));
                        DeletionStatus::Failed {
                            error: err.to_string(),
                        }
                    }
                };
                if let DeletionStatus::SkippedMoved { tag, now } = &s {
                    progress.note(&format!(
                        "skipped {}: tag {tag} now points at {}",
                        d.digest,
                        now.as_deref().unwrap_or("nothing")
                    ));
                }
                status.insert(&d.digest, s);
            }
        }
        for &d in rest {
            let s = match check_error.take() {
                Some(error) => DeletionStatus::Failed {
                    error: format!("checking tags before deleting failed: {error}"),
                },
                None => DeletionStatus::NotAttempted,
            };
            status.insert(&d.digest, s);
        }
    }
    progress.finish();
    report.outcomes = plan
        .deletions
        .iter()
        .map(|d| {
            let s = status
                .remove(d.digest.as_str())
                .unwrap_or(DeletionStatus::NotAttempted);
            outcome(d, s)
        })
        .collect();
    if !failed {
        let removed = report
            .outcomes
            .iter()
            .filter(|o| o.status == DeletionStatus::Deleted)
            .count();
        match backend.finish(removed).await {
            Ok(started) => report.garbage_collection_started = started,
            Err(err) => progress.note(&format!("garbage collection not started: {err}")),
        }
    }
    report.requests = backend.requests();
    report
}

/// The check before (and during) a run of deletions: tags that appeared since planning, and
/// kept tags that can move, each resolved now. Any of them on a planned digest protects it.
struct Guard<'p> {
    repository: &'p str,
    planned: HashSet<&'p str>,
    /// Resolved by the first check.
    moving: Vec<String>,
    /// Resolved by the later ones.
    recheck: Vec<String>,
    concurrency: usize,
}

impl Guard<'_> {
    /// Digest -> a tag that points at it now (new, or one of `moving`).
    async fn check<B: RetentionBackend>(
        &self,
        backend: &B,
        progress: &dyn Progress,
        moving: &[String],
    ) -> Result<HashMap<String, String>> {
        let listed = backend.list_tags().await?;
        let listed_set: HashSet<&str> = listed.iter().map(String::as_str).collect();
        let mut check: Vec<String> = listed
            .iter()
            .filter(|t| !self.planned.contains(t.as_str()))
            .cloned()
            .collect();
        // A moving tag that is gone points at nothing.
        check.extend(
            moving
                .iter()
                .filter(|t| listed_set.contains(t.as_str()))
                .cloned(),
        );
        let mut out = HashMap::new();
        if check.is_empty() {
            return Ok(out);
        }
        progress.start("checking moving and new tags", check.len() as u64);
        let resolved =
            resolve_all(backend, self.repository, &check, self.concurrency, progress).await;
        progress.finish();
        // Sorted, so the tag named for a digest does not depend on answer order.
        let mut pairs: Vec<(String, String)> = resolved?
            .into_iter()
            .filter_map(|(tag, digest)| digest.map(|d| (d, tag)))
            .collect();
        pairs.sort();
        for (digest, tag) in pairs {
            out.entry(digest).or_insert(tag);
        }
        Ok(out)
    }
}

/// Re-resolves a digest's tags, then deletes it unless one moved.
async fn delete_one<B: RetentionBackend>(backend: &B, d: &Deletion) -> Result<DeletionStatus> {
    for tag in &d.tags {
        let now = backend
            .resolve(tag)
            .await
            .map_err(|err| RetentionError::Delete {
                reference: tag.clone(),
                message: format!("re-resolving before the delete failed: {err}"),
                source: Some(Box::new(err)),
            })?;
        match now {
            Some(digest) if digest == d.digest => {}
            // Gone: nothing of it can be lost by deleting the digest.
            None => {}
            Some(other) => {
                return Ok(DeletionStatus::SkippedMoved {
                    tag: tag.clone(),
                    now: Some(other),
                });
            }
        }
    }
    Ok(match backend.delete(d).await? {
        Removed::Deleted => DeletionStatus::Deleted,
        Removed::AlreadyGone => DeletionStatus::AlreadyGone,
    })
}

fn stop_all<B: RetentionBackend>(
    mut report: ApplyReport,
    plan: &RetentionPlan,
    error: &str,
    backend: &B,
) -> ApplyReport {
    report.outcomes = plan
        .deletions
        .iter()
        .enumerate()
        .map(|(i, d)| DeletionOutcome {
            digest: d.digest.clone(),
            tags: d.tags.clone(),
            size: d.size,
            status: if i == 0 {
                DeletionStatus::Failed {
                    error: format!("checking tags before deleting failed: {error}"),
                }
            } else {
                DeletionStatus::NotAttempted
            },
        })
        .collect();
    report.requests = backend.requests();
    report
}

/// Everything [`run`] needs besides the backend.
#[derive(Debug, Clone, Copy)]
pub struct RunInput<'a> {
    /// The policy.
    pub policy: &'a crate::policy::Policy,
    /// Its compiled tag templates.
    pub scheme: &'a crate::tag::TagScheme,
    /// Current time.
    pub now: chrono::DateTime<chrono::Utc>,
    /// Digests the overlays deploy.
    pub deployed: &'a [super::planner::DeployedDigest],
    /// Overrides `retention.max_deletions`.
    pub max_deletions: Option<u32>,
}

/// Inventory, plan, then execute (a dry run unless `options.apply`). Fails closed: an
/// incomplete inventory returns an error before anything is planned or deleted.
pub async fn run<B: RetentionBackend>(
    backend: &B,
    input: &RunInput<'_>,
    options: ExecuteOptions,
    progress: &dyn Progress,
) -> Result<(RetentionPlan, ApplyReport)> {
    let inventory = backend.inventory(progress).await?;
    let plan = super::planner::plan(&super::planner::PlanInput {
        policy: input.policy,
        scheme: input.scheme,
        now: input.now,
        inventory: &inventory,
        deployed: input.deployed,
        max_deletions: input.max_deletions,
    })
    .map_err(|err| RetentionError::Config {
        message: err.to_string(),
    })?;
    let report = execute(backend, &plan, options, progress).await;
    Ok((plan, report))
}
