//! The deploy ledger: deploy commits in the GitOps repository, read back as data.
//!
//! Every deploy, rollback or hotfix commit carries machine-readable trailers after a
//! human subject line:
//!
//! ```text
//! deploy(production): backend prod-abc1234-20251203-160000
//!
//! Gitops-Kind: deploy
//! Gitops-Environment: production
//! Gitops-Image: backend=registry.example.com/acme/backend:prod-abc1234-20251203-160000@sha256:...
//! Gitops-Source-Commit: abc1234...
//! ```
//!
//! This module is pure: it renders messages ([`render_message`]), parses commits back into
//! [`LedgerEntry`] values ([`parse_commit`], [`parse_ledger`]) and computes history, the
//! rollback target and the difference between environments over a list of entries. Reading
//! the commits from git is the `gitops_repo` adapter's job.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Trailer naming the kind of ledger commit (`deploy`, `rollback`, `hotfix`).
pub const TRAILER_KIND: &str = "Gitops-Kind";
/// Trailer naming the environment a commit deploys to.
pub const TRAILER_ENVIRONMENT: &str = "Gitops-Environment";
/// Trailer `name=reference[@digest]`, one per image.
pub const TRAILER_IMAGE: &str = "Gitops-Image";
/// Trailer naming the application commit the images were built from.
pub const TRAILER_SOURCE_COMMIT: &str = "Gitops-Source-Commit";
/// Trailer naming the ledger commit a rollback undoes.
pub const TRAILER_ROLLBACK_OF: &str = "Gitops-Rollback-Of";

/// How many images the subject line lists before summarising the rest.
const SUBJECT_IMAGES: usize = 3;

/// Why a ledger operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The commit message template names a placeholder that does not exist.
    #[error(
        "commit message template '{template}' uses unknown placeholder '{{{placeholder}}}'; known: {{env}}, {{images}}, {{kind}}, {{source}}, {{sha7}}"
    )]
    UnknownPlaceholder {
        /// The template.
        template: String,
        /// The unknown name.
        placeholder: String,
    },
    /// The commit message template has an unclosed `{`.
    #[error("commit message template '{template}' has an unclosed '{{'")]
    UnclosedPlaceholder {
        /// The template.
        template: String,
    },
    /// A deploy must name at least one image.
    #[error("a deploy of environment '{environment}' must name at least one image")]
    NoImages {
        /// The environment.
        environment: String,
    },
    /// The environment has never been deployed through the ledger.
    #[error(
        "environment '{environment}' has no deploy in the ledger; deploy it with `gitops deploy` first"
    )]
    NoDeploys {
        /// The environment.
        environment: String,
    },
    /// There is no earlier image set to go back to.
    #[error(
        "environment '{environment}' has no earlier deploy to roll back to ({available} earlier image set(s) in the ledger, {steps} step(s) requested); see `gitops history --env {environment}`"
    )]
    NoEarlierDeploy {
        /// The environment.
        environment: String,
        /// Steps requested.
        steps: usize,
        /// Distinct earlier image sets found.
        available: usize,
    },
    /// `--to` matched no ledger entry of the environment.
    #[error(
        "no deploy of environment '{environment}' matches '{target}' (a ledger commit sha, an image reference or a tag); see `gitops history --env {environment}`"
    )]
    TargetNotFound {
        /// The environment.
        environment: String,
        /// The `--to` value.
        target: String,
    },
    /// `--to` names the image set that is already deployed.
    #[error(
        "environment '{environment}' already runs the image set of '{target}'; nothing to roll back"
    )]
    AlreadyCurrent {
        /// The environment.
        environment: String,
        /// The `--to` value.
        target: String,
    },
}

/// What a ledger commit did.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum DeployKind {
    /// A regular deploy of new images.
    #[default]
    Deploy,
    /// A rollback to an earlier image set (a forward commit, never a history rewrite).
    Rollback,
    /// A hotfix deploy (counts as remediation of a failed change in DORA metrics).
    Hotfix,
}

impl DeployKind {
    /// The lower-case word used in subjects and trailers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Rollback => "rollback",
            Self::Hotfix => "hotfix",
        }
    }

    /// Parses the trailer word (case-insensitive).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "deploy" => Some(Self::Deploy),
            "rollback" => Some(Self::Rollback),
            "hotfix" => Some(Self::Hotfix),
            _ => None,
        }
    }
}

impl fmt::Display for DeployKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One image of a ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LedgerImage {
    /// The policy image name (the `images:` entry name in the overlay), e.g. `backend`.
    pub name: String,
    /// The image reference without its digest, e.g. `registry.example.com/acme/backend:prod-abc1234-...`.
    pub reference: String,
    /// The manifest digest (`sha256:...`) when the deploy pinned one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl LedgerImage {
    /// Builds an image from a name and a full reference, splitting off `@digest`.
    pub fn from_reference(name: &str, full_reference: &str) -> Self {
        let full_reference = full_reference.trim();
        match full_reference.split_once('@') {
            Some((reference, digest)) if !digest.is_empty() => Self {
                name: name.to_owned(),
                reference: reference.to_owned(),
                digest: Some(digest.to_owned()),
            },
            Some((reference, _)) => Self {
                name: name.to_owned(),
                reference: reference.to_owned(),
                digest: None,
            },
            None => Self {
                name: name.to_owned(),
                reference: full_reference.to_owned(),
                digest: None,
            },
        }
    }

    /// The reference with its digest: `reference@digest`, or just `reference`.
    pub fn pinned(&self) -> String {
        match &self.digest {
            Some(digest) => format!("{}@{digest}", self.reference),
            None => self.reference.clone(),
        }
    }

    /// The tag of the reference (after the last `:` of the last path component), if any.
    pub fn tag(&self) -> Option<&str> {
        let last = self.reference.rsplit('/').next().unwrap_or(&self.reference);
        last.rsplit_once(':').map(|(_, tag)| tag)
    }

    /// A short label for subjects and tables: the tag, else the short digest, else the reference.
    pub fn label(&self) -> String {
        if let Some(tag) = self.tag() {
            return tag.to_owned();
        }
        if let Some(digest) = &self.digest {
            let short: String = digest.chars().take(19).collect();
            return short;
        }
        self.reference.clone()
    }

    /// Whether two images are the same build: equal digests when both are known, else equal
    /// references (promotion retags one digest under each environment's tag).
    pub fn same_build(&self, other: &Self) -> bool {
        match (&self.digest, &other.digest) {
            (Some(a), Some(b)) => a == b,
            _ => self.reference == other.reference,
        }
    }
}

/// A parsed ledger commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The GitOps commit sha.
    pub commit: String,
    /// When the commit was made (committer time, UTC).
    pub time: DateTime<Utc>,
    /// Who made it (`Name <email>`).
    pub author: String,
    /// The environment deployed to.
    pub environment: String,
    /// Deploy, rollback or hotfix.
    pub kind: DeployKind,
    /// The images written, one per image name.
    pub images: Vec<LedgerImage>,
    /// The application commit the images were built from, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
    /// For rollbacks: the ledger commit undone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<String>,
}

/// A commit as read from git: the raw input of [`parse_commit`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitInfo {
    /// The commit sha.
    pub commit: String,
    /// Committer time (UTC).
    pub time: DateTime<Utc>,
    /// Author as `Name <email>`.
    pub author: String,
    /// The whole commit message.
    pub message: String,
}

/// The content of a ledger commit message, before rendering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployMessage {
    /// The environment deployed to.
    pub environment: String,
    /// Deploy, rollback or hotfix.
    pub kind: DeployKind,
    /// The images written.
    pub images: Vec<LedgerImage>,
    /// The application commit the images were built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
    /// For rollbacks: the ledger commit undone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<String>,
}

/// Renders a ledger commit message: the subject from `template` (the policy's
/// `gitops.commit_message`, default `deploy({env}): {images}`), a blank line, then trailers.
///
/// Placeholders: `{env}`, `{images}` (`name tag` pairs, the first three then `and N more`),
/// `{kind}`, `{source}` (full source commit) and `{sha7}` (its first 7 characters). For
/// rollbacks and hotfixes a leading `deploy` in the rendered subject becomes the kind, so the
/// default template gives `rollback(production): backend prod-...`.
///
/// ```
/// use gitops_core::ledger::{render_message, DeployKind, DeployMessage, LedgerImage};
/// let msg = DeployMessage {
///     environment: "production".into(),
///     kind: DeployKind::Deploy,
///     images: vec![LedgerImage::from_reference("backend", "r.io/backend:prod-abc1234-20251203-160000")],
///     source_commit: None,
///     rollback_of: None,
/// };
/// let text = render_message("deploy({env}): {images}", &msg).unwrap();
/// assert!(text.starts_with("deploy(production): backend prod-abc1234-20251203-160000\n"));
/// ```
pub fn render_message(template: &str, message: &DeployMessage) -> Result<String, LedgerError> {
    if message.images.is_empty() {
        return Err(LedgerError::NoImages {
            environment: message.environment.clone(),
        });
    }
    let mut subject = render_subject(template, message)?;
    if message.kind != DeployKind::Deploy
        && let Some(rest) = subject.strip_prefix("deploy")
    {
        subject = format!("{}{rest}", message.kind.as_str());
    }
    // A subject is one line: newlines in values would make later lines look like trailers.
    let subject = subject.replace(['\n', '\r'], " ");

    let mut text = subject;
    text.push_str("\n\n");
    text.push_str(&format!("{TRAILER_KIND}: {}\n", message.kind));
    text.push_str(&format!(
        "{TRAILER_ENVIRONMENT}: {}\n",
        one_line(&message.environment)
    ));
    for image in &message.images {
        text.push_str(&format!(
            "{TRAILER_IMAGE}: {}={}\n",
            one_line(&image.name),
            one_line(&image.pinned())
        ));
    }
    if let Some(source) = &message.source_commit {
        text.push_str(&format!("{TRAILER_SOURCE_COMMIT}: {}\n", one_line(source)));
    }
    if let Some(of) = &message.rollback_of {
        text.push_str(&format!("{TRAILER_ROLLBACK_OF}: {}\n", one_line(of)));
    }
    Ok(text)
}

fn one_line(value: &str) -> String {
    value.replace(['\n', '\r'], " ").trim().to_owned()
}

fn render_subject(template: &str, message: &DeployMessage) -> Result<String, LedgerError> {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(LedgerError::UnclosedPlaceholder {
                template: template.to_owned(),
            });
        };
        let name = &after[..close];
        let source = message.source_commit.as_deref().unwrap_or("");
        match name {
            "env" => out.push_str(&message.environment),
            "images" => out.push_str(&images_summary(&message.images)),
            "kind" => out.push_str(message.kind.as_str()),
            "source" => out.push_str(source),
            "sha7" => out.push_str(&source.chars().take(7).collect::<String>()),
            other => {
                return Err(LedgerError::UnknownPlaceholder {
                    template: template.to_owned(),
                    placeholder: other.to_owned(),
                });
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn images_summary(images: &[LedgerImage]) -> String {
    let mut parts: Vec<String> = images
        .iter()
        .take(SUBJECT_IMAGES)
        .map(|image| format!("{} {}", image.name, image.label()))
        .collect();
    if images.len() > SUBJECT_IMAGES {
        parts.push(format!("and {} more", images.len() - SUBJECT_IMAGES));
    }
    parts.join(", ")
}

/// Parses a commit into a ledger entry; `None` when it is not a ledger commit (no
/// `Gitops-Environment:` trailer, or no image).
///
/// Trailers are matched case-insensitively anywhere after the subject line, so a
/// cherry-pick's `(cherry picked from ...)` note does not hide them. A commit without
/// `Gitops-Kind:` is a deploy, or a rollback when it has `Gitops-Rollback-Of:`.
pub fn parse_commit(info: &CommitInfo) -> Option<LedgerEntry> {
    let mut environment = None;
    let mut kind = None;
    let mut images: Vec<LedgerImage> = Vec::new();
    let mut source_commit = None;
    let mut rollback_of = None;
    for line in info.message.lines().skip(1) {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        if key.eq_ignore_ascii_case(TRAILER_ENVIRONMENT) {
            environment = Some(value.to_owned());
        } else if key.eq_ignore_ascii_case(TRAILER_KIND) {
            kind = DeployKind::parse(value);
        } else if key.eq_ignore_ascii_case(TRAILER_IMAGE) {
            if let Some((name, reference)) = value.split_once('=') {
                let name = name.trim();
                if name.is_empty() || reference.trim().is_empty() {
                    continue;
                }
                let image = LedgerImage::from_reference(name, reference);
                // A later trailer for the same name wins, as later `--image` flags do.
                images.retain(|existing| existing.name != image.name);
                images.push(image);
            }
        } else if key.eq_ignore_ascii_case(TRAILER_SOURCE_COMMIT) {
            source_commit = Some(value.to_owned());
        } else if key.eq_ignore_ascii_case(TRAILER_ROLLBACK_OF) {
            rollback_of = Some(value.to_owned());
        }
    }
    let environment = environment?;
    if images.is_empty() {
        return None;
    }
    let kind = kind.unwrap_or(if rollback_of.is_some() {
        DeployKind::Rollback
    } else {
        DeployKind::Deploy
    });
    Some(LedgerEntry {
        commit: info.commit.clone(),
        time: info.time,
        author: info.author.clone(),
        environment,
        kind,
        images,
        source_commit,
        rollback_of,
    })
}

/// Parses many commits (in any order) into ledger entries, oldest first. Commits that are not
/// ledger commits are skipped. Entries with equal times keep their input order reversed, as
/// git lists newest first.
pub fn parse_ledger(commits: &[CommitInfo]) -> Vec<LedgerEntry> {
    let mut entries: Vec<LedgerEntry> = commits.iter().rev().filter_map(parse_commit).collect();
    entries.sort_by_key(|entry| entry.time);
    entries
}

/// The entries of one environment, oldest first.
pub fn history<'a>(entries: &'a [LedgerEntry], environment: &str) -> Vec<&'a LedgerEntry> {
    entries
        .iter()
        .filter(|entry| entry.environment == environment)
        .collect()
}

/// The image set of an environment: image name -> image, in name order.
pub type ImageSet = BTreeMap<String, LedgerImage>;

/// The image set an environment runs after the given entries (oldest first): each entry
/// overrides the images it names; images it does not name keep their earlier value.
pub fn image_set<'a>(entries: impl IntoIterator<Item = &'a LedgerEntry>) -> ImageSet {
    let mut set = ImageSet::new();
    for entry in entries {
        for image in &entry.images {
            set.insert(image.name.clone(), image.clone());
        }
    }
    set
}

/// Which earlier image set a rollback restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RollbackSelector {
    /// Go back this many distinct image sets (1 = the one before the current).
    Steps(usize),
    /// The image set as of the ledger entry matching this text: a commit sha (prefix of at
    /// least 4 characters), a full image reference, or a tag.
    To(String),
}

/// A computed rollback: what to write and what it undoes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackPlan {
    /// The environment.
    pub environment: String,
    /// The ledger commit whose image set is restored.
    pub target_commit: String,
    /// The latest ledger commit of the environment, which the rollback undoes.
    pub rollback_of: String,
    /// The image set running now.
    pub current: Vec<LedgerImage>,
    /// The image set to write (every image of the restored set).
    pub images: Vec<LedgerImage>,
    /// The source commit of the restored set, when the target entry names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
}

/// Computes which image set a rollback restores.
///
/// Steps count distinct earlier image sets, newest first, skipping sets produced by
/// commits that an earlier rollback already undid and sets equal to the current one, so
/// rolling back twice walks further back instead of flip-flopping.
pub fn rollback_target(
    entries: &[LedgerEntry],
    environment: &str,
    selector: &RollbackSelector,
) -> Result<RollbackPlan, LedgerError> {
    let env_entries = history(entries, environment);
    let Some(latest) = env_entries.last() else {
        return Err(LedgerError::NoDeploys {
            environment: environment.to_owned(),
        });
    };
    let current = image_set(env_entries.iter().copied());
    let undone: BTreeSet<&str> = env_entries
        .iter()
        .filter_map(|entry| entry.rollback_of.as_deref())
        .collect();
    let is_undone = |entry: &LedgerEntry| {
        undone
            .iter()
            .any(|sha| sha_matches(&entry.commit, sha) || sha_matches(sha, &entry.commit))
    };

    let target_index = match selector {
        RollbackSelector::Steps(steps) => {
            let steps = (*steps).max(1);
            let mut seen: Vec<ImageSet> = vec![current.clone()];
            let mut found = None;
            for index in (0..env_entries.len().saturating_sub(1)).rev() {
                if is_undone(env_entries[index]) {
                    continue;
                }
                let set = image_set(env_entries[..=index].iter().copied());
                if seen.iter().any(|s| sets_equal(s, &set)) {
                    continue;
                }
                seen.push(set);
                if seen.len() > steps {
                    found = Some(index);
                    break;
                }
            }
            match found {
                Some(index) => index,
                None => {
                    return Err(LedgerError::NoEarlierDeploy {
                        environment: environment.to_owned(),
                        steps,
                        available: seen.len() - 1,
                    });
                }
            }
        }
        RollbackSelector::To(target) => {
            let target_trimmed = target.trim();
            let index = env_entries
                .iter()
                .rposition(|entry| entry_matches(entry, target_trimmed))
                .ok_or_else(|| LedgerError::TargetNotFound {
                    environment: environment.to_owned(),
                    target: target.clone(),
                })?;
            let set = image_set(env_entries[..=index].iter().copied());
            if sets_equal(&set, &current) {
                return Err(LedgerError::AlreadyCurrent {
                    environment: environment.to_owned(),
                    target: target.clone(),
                });
            }
            index
        }
    };
    let target = env_entries[target_index];
    let restored = image_set(env_entries[..=target_index].iter().copied());
    Ok(RollbackPlan {
        environment: environment.to_owned(),
        target_commit: target.commit.clone(),
        rollback_of: latest.commit.clone(),
        current: current.into_values().collect(),
        images: restored.into_values().collect(),
        source_commit: target.source_commit.clone(),
    })
}

fn sets_equal(a: &ImageSet, b: &ImageSet) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(name, image)| b.get(name).is_some_and(|other| other.same_build(image)))
}

/// Whether `full` starts with `prefix` (a commit sha prefix of at least 4 hex characters).
fn sha_matches(full: &str, prefix: &str) -> bool {
    prefix.len() >= 4
        && prefix.chars().all(|c| c.is_ascii_hexdigit())
        && full
            .to_ascii_lowercase()
            .starts_with(&prefix.to_ascii_lowercase())
}

fn entry_matches(entry: &LedgerEntry, target: &str) -> bool {
    if target.is_empty() {
        return false;
    }
    if sha_matches(&entry.commit, target) {
        return true;
    }
    entry.images.iter().any(|image| {
        image.pinned() == target
            || image.reference == target
            || image.digest.as_deref() == Some(target)
            || image.tag() == Some(target)
            || format!("{}={}", image.name, image.pinned()) == target
            || format!("{}={}", image.name, image.reference) == target
    })
}

/// One image's difference between two environments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageDifference {
    /// The image name.
    pub name: String,
    /// What the `from` environment runs (none: never deployed there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<LedgerImage>,
    /// What the `to` environment runs (none: never deployed there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<LedgerImage>,
}

/// What one environment has that another lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentDiff {
    /// The environment compared from (e.g. staging).
    pub from: String,
    /// The environment compared to (e.g. production).
    pub to: String,
    /// Images whose build differs (by digest when both are pinned, else by reference).
    pub images: Vec<ImageDifference>,
    /// Source commits deployed to `from` and never to `to`, oldest first.
    pub source_commits: Vec<String>,
}

impl EnvironmentDiff {
    /// Whether the environments run the same builds and `from` has no undeployed source commit.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty() && self.source_commits.is_empty()
    }
}

/// Compares two environments' ledgers: images whose build differs, and source commits
/// `from` has deployed that `to` has not.
pub fn diff(entries: &[LedgerEntry], from: &str, to: &str) -> EnvironmentDiff {
    let from_entries = history(entries, from);
    let to_entries = history(entries, to);
    let from_set = image_set(from_entries.iter().copied());
    let to_set = image_set(to_entries.iter().copied());
    let names: BTreeSet<&String> = from_set.keys().chain(to_set.keys()).collect();
    let images = names
        .into_iter()
        .filter_map(|name| {
            let a = from_set.get(name);
            let b = to_set.get(name);
            let same = matches!((a, b), (Some(a), Some(b)) if a.same_build(b));
            (!same).then(|| ImageDifference {
                name: name.clone(),
                from: a.cloned(),
                to: b.cloned(),
            })
        })
        .collect();
    let deployed_to: Vec<&str> = to_entries
        .iter()
        .filter_map(|entry| entry.source_commit.as_deref())
        .collect();
    let mut source_commits: Vec<String> = Vec::new();
    for entry in &from_entries {
        let Some(source) = entry.source_commit.as_deref() else {
            continue;
        };
        let in_to = deployed_to
            .iter()
            .any(|other| sha_matches(other, source) || sha_matches(source, other));
        if !in_to && !source_commits.iter().any(|s| s == source) {
            source_commits.push(source.to_owned());
        }
    }
    EnvironmentDiff {
        from: from.to_owned(),
        to: to.to_owned(),
        images,
        source_commits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap_or_default()
    }

    fn entry(commit: &str, secs: i64, env: &str, images: &[(&str, &str)]) -> LedgerEntry {
        LedgerEntry {
            commit: commit.to_owned(),
            time: at(secs),
            author: "bot <bot@example.com>".to_owned(),
            environment: env.to_owned(),
            kind: DeployKind::Deploy,
            images: images
                .iter()
                .map(|(n, r)| LedgerImage::from_reference(n, r))
                .collect(),
            source_commit: Some(format!("src{commit}")),
            rollback_of: None,
        }
    }

    #[test]
    fn message_round_trips() {
        let message = DeployMessage {
            environment: "production".into(),
            kind: DeployKind::Deploy,
            images: vec![
                LedgerImage::from_reference(
                    "backend",
                    "r.io/acme/backend:prod-abc1234-20251203-160000@sha256:aaaa",
                ),
                LedgerImage::from_reference("frontend", "r.io/acme/frontend:prod-abc1234"),
            ],
            source_commit: Some("abc1234def".into()),
            rollback_of: None,
        };
        let text = render_message("deploy({env}): {images}", &message).unwrap_or_default();
        assert_eq!(
            text.lines().next(),
            Some("deploy(production): backend prod-abc1234-20251203-160000, frontend prod-abc1234")
        );
        let parsed = parse_commit(&CommitInfo {
            commit: "c1".into(),
            time: at(5),
            author: "a <a@b>".into(),
            message: text,
        });
        let parsed = parsed.unwrap_or_else(|| entry("x", 0, "x", &[]));
        assert_eq!(parsed.environment, "production");
        assert_eq!(parsed.images, message.images);
        assert_eq!(parsed.images[0].digest.as_deref(), Some("sha256:aaaa"));
        assert_eq!(parsed.source_commit.as_deref(), Some("abc1234def"));
    }

    #[test]
    fn rollback_subject_and_unknown_placeholder() {
        let message = DeployMessage {
            environment: "staging".into(),
            kind: DeployKind::Rollback,
            images: vec![LedgerImage::from_reference("backend", "b:v1")],
            source_commit: None,
            rollback_of: Some("deadbeef".into()),
        };
        let text = render_message("deploy({env}): {images}", &message).unwrap_or_default();
        assert!(text.starts_with("rollback(staging): backend v1\n"));
        assert!(text.contains("Gitops-Rollback-Of: deadbeef\n"));
        assert!(matches!(
            render_message("x {nope}", &message),
            Err(LedgerError::UnknownPlaceholder { .. })
        ));
    }

    #[test]
    fn steps_skip_undone_and_equal_sets() {
        let a = entry("aaaa1", 1, "prod", &[("backend", "b:v1")]);
        let b = entry("bbbb2", 2, "prod", &[("backend", "b:v2")]);
        let c = entry("cccc3", 3, "prod", &[("backend", "b:v3")]);
        let entries = vec![a.clone(), b.clone(), c.clone()];
        let plan = rollback_target(&entries, "prod", &RollbackSelector::Steps(1));
        assert_eq!(plan.map(|p| p.target_commit), Ok("bbbb2".to_owned()));
        let mut r = entry("dddd4", 4, "prod", &[("backend", "b:v2")]);
        r.kind = DeployKind::Rollback;
        r.rollback_of = Some("cccc3".into());
        let entries = vec![a, b, c, r];
        let plan = rollback_target(&entries, "prod", &RollbackSelector::Steps(1));
        assert_eq!(plan.map(|p| p.target_commit), Ok("aaaa1".to_owned()));
        assert!(matches!(
            rollback_target(&entries, "prod", &RollbackSelector::Steps(2)),
            Err(LedgerError::NoEarlierDeploy { .. })
        ));
    }
}
