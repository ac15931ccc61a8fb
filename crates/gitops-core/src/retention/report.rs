//! What a retention run did, and how plans and reports are shown: a human table, JSON and a
//! Markdown step-summary table. Pure: rendering takes values and returns text.

use std::fmt::Write as _;

use serde::Serialize;

use super::planner::{Action, RetentionPlan, short_digest};

/// What happened to one planned deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum DeletionStatus {
    /// Dry run: nothing was sent.
    Planned,
    /// Deleted.
    Deleted,
    /// A tag no longer points at the planned digest (or a new tag appeared on it): skipped.
    SkippedMoved {
        /// The tag that moved or appeared.
        tag: String,
        /// What it points at now (`None`: gone).
        now: Option<String>,
    },
    /// The registry already had no such manifest.
    AlreadyGone,
    /// The backend refused or failed; nothing else was tried for this digest.
    Failed {
        /// The backend's error, for a person.
        error: String,
    },
    /// Not attempted because an earlier failure stopped the run.
    NotAttempted,
}

/// One planned deletion and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletionOutcome {
    /// The digest.
    pub digest: String,
    /// Its tags when planned.
    pub tags: Vec<String>,
    /// Bytes of config and layers, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// What happened.
    #[serde(flatten)]
    pub status: DeletionStatus,
}

/// The result of carrying out (or dry-running) a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// The repository.
    pub repository: String,
    /// Whether deletions were sent (`false`: dry run).
    pub applied: bool,
    /// One entry per planned deletion, in plan order.
    pub outcomes: Vec<DeletionOutcome>,
    /// HTTP requests sent by the backend during the run (listing, resolves and deletes), when
    /// the backend counts them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Whether a garbage collection was started afterwards (DigitalOcean).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub garbage_collection_started: bool,
}

impl ApplyReport {
    /// Digests deleted.
    pub fn deleted(&self) -> usize {
        self.count(|s| matches!(s, DeletionStatus::Deleted | DeletionStatus::AlreadyGone))
    }

    /// Digests skipped because a tag moved.
    pub fn skipped(&self) -> usize {
        self.count(|s| matches!(s, DeletionStatus::SkippedMoved { .. }))
    }

    /// Digests whose delete failed (or was not attempted after a failure).
    pub fn failed(&self) -> usize {
        self.count(|s| {
            matches!(
                s,
                DeletionStatus::Failed { .. } | DeletionStatus::NotAttempted
            )
        })
    }

    fn count(&self, f: impl Fn(&DeletionStatus) -> bool) -> usize {
        self.outcomes.iter().filter(|o| f(&o.status)).count()
    }

    /// Bytes freed by the deletions that happened, and whether every size was known.
    pub fn bytes_freed(&self) -> (u64, bool) {
        let mut total = 0u64;
        let mut complete = true;
        for o in &self.outcomes {
            if matches!(o.status, DeletionStatus::Deleted) {
                match o.size {
                    Some(s) => total = total.saturating_add(s),
                    None => complete = false,
                }
            }
        }
        (total, complete)
    }
}

/// `1.5 MiB`, `812 B`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn bytes_text((total, complete): (u64, bool), any: bool) -> String {
    if !any {
        "0 B".to_owned()
    } else if total == 0 && !complete {
        "unknown".to_owned()
    } else if complete {
        human_bytes(total)
    } else {
        format!("{} + unknown", human_bytes(total))
    }
}

/// The plan for a person: one line per tag (action, tag, environment, reason), then the
/// untagged manifests, the deletions and the totals.
pub fn render_plan(plan: &RetentionPlan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Retention plan for {} at {}",
        plan.repository,
        plan.now.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let width = plan
        .tags
        .iter()
        .map(|t| t.tag.len())
        .max()
        .unwrap_or(3)
        .max(3);
    let env_width = plan
        .tags
        .iter()
        .map(|t| t.environment.as_deref().map_or(1, str::len))
        .max()
        .unwrap_or(11)
        .max(11);
    let _ = writeln!(
        out,
        "  {:<8} {:<width$}  {:<env_width$}  REASON",
        "ACTION", "TAG", "ENVIRONMENT"
    );
    for t in &plan.tags {
        let _ = writeln!(
            out,
            "  {:<8} {:<width$}  {:<env_width$}  {}",
            t.action.to_string(),
            t.tag,
            t.environment.as_deref().unwrap_or("-"),
            t.reason
        );
    }
    if !plan.untagged.is_empty() {
        let _ = writeln!(out, "Untagged manifests:");
        for m in &plan.untagged {
            let _ = writeln!(
                out,
                "  {:<8} {}  {}",
                m.action.to_string(),
                short_digest(&m.digest),
                m.reason
            );
        }
    }
    if !plan.deletions.is_empty() {
        let _ = writeln!(out, "Digests to delete, in order:");
        for d in &plan.deletions {
            let tags = if d.tags.is_empty() {
                "(untagged)".to_owned()
            } else {
                d.tags.join(", ")
            };
            let _ = writeln!(out, "  {}  {}", short_digest(&d.digest), tags);
        }
    }
    if !plan.deferred.is_empty() {
        let _ = writeln!(
            out,
            "{} more digest(s) due but deferred (max_deletions {} reached, or they depend on a deferred digest).",
            plan.deferred.len(),
            plan.max_deletions
        );
    }
    let kept = plan
        .tags
        .iter()
        .filter(|t| t.action == Action::Keep)
        .count();
    let deleted = plan
        .tags
        .iter()
        .filter(|t| t.action == Action::Delete)
        .count();
    let _ = writeln!(
        out,
        "{} tag(s): {kept} kept, {deleted} deleted, {} deferred; {} digest(s) to delete, up to {} freed.",
        plan.tags.len(),
        plan.tags.len() - kept - deleted,
        plan.deletions.len(),
        bytes_text(plan.bytes_freed(), !plan.deletions.is_empty())
    );
    out
}

/// The Markdown step summary: kept, deleted and deferred tags per environment, digests and
/// bytes freed, and the outcome of an apply run when there was one.
pub fn render_summary(plan: &RetentionPlan, report: Option<&ApplyReport>) -> String {
    let mut out = String::new();
    let applied = report.is_some_and(|r| r.applied);
    let _ = writeln!(
        out,
        "### Retention {} `{}`\n",
        if applied {
            "applied to"
        } else {
            "plan (dry run) for"
        },
        plan.repository
    );
    let _ = writeln!(
        out,
        "| Environment | Kept | {} | Deferred |",
        if applied { "Deleted" } else { "To delete" }
    );
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for c in &plan.environments {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            c.environment, c.kept, c.deleted, c.deferred
        );
    }
    let _ = writeln!(out);
    match report.filter(|r| r.applied) {
        Some(r) => {
            let _ = writeln!(
                out,
                "Digests: {} deleted, {} skipped (tag moved), {} failed, of {} planned. Bytes freed: {}.",
                r.deleted(),
                r.skipped(),
                r.failed(),
                r.outcomes.len(),
                bytes_text(r.bytes_freed(), r.deleted() > 0)
            );
            for o in &r.outcomes {
                match &o.status {
                    super::DeletionStatus::SkippedMoved { tag, now } => {
                        let _ = writeln!(
                            out,
                            "- skipped `{}`: tag `{tag}` now points at {}",
                            short_digest(&o.digest),
                            now.as_deref().map_or("nothing", short_digest)
                        );
                    }
                    super::DeletionStatus::Failed { error } => {
                        let _ = writeln!(out, "- failed `{}`: {error}", short_digest(&o.digest));
                    }
                    _ => {}
                }
            }
        }
        None => {
            let _ = writeln!(
                out,
                "Digests: {} to delete, {} deferred. Bytes freed at most: {}. Run `gitops retention apply` to delete.",
                plan.deletions.len(),
                plan.deferred.len(),
                bytes_text(plan.bytes_freed(), !plan.deletions.is_empty())
            );
        }
    }
    out
}
