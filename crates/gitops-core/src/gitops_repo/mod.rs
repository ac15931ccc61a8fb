//! The GitOps repository writer (libgit2): open a checkout or a remote, apply many file edits
//! as one commit, push it without losing or duplicating commits, read the deploy ledger back,
//! and cherry-pick hotfixes.
//!
//! Writes never touch a working tree until they have landed: commits are built from objects
//! (the base commit's tree plus new blobs), so a failed edit leaves no commit and no changed
//! file. Two ways of landing a commit:
//!
//! - **push** (URLs and checkouts with a network `origin`): fetch the branch tip, re-apply the
//!   edit on it, skip if bytes are identical, commit, push; a refusal reported through the
//!   push-update-reference callback or a non-fast-forward error means another writer won,
//!   so fetch again after a jittered backoff (bounded attempts). Success is reported only
//!   once ls-remote shows the branch at the pushed commit.
//! - **direct** (local repositories, `file://` URLs, checkouts whose `origin` is a local
//!   path): the branch reference is moved with a compare-and-swap under git's lock file,
//!   because libgit2's local push transport does not update references atomically.

mod plan;
mod transport;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use git2::build::TreeUpdateBuilder;
use git2::{Commit, FileMode, ObjectType, Oid, Repository, Signature, Sort, Tree};
use rand::Rng;
use serde::{Deserialize, Serialize};

pub use plan::{Author, FileChange, FileWrite, Proposal, WritePlan};
pub use transport::GitCredentials;

use crate::ledger::CommitInfo;

/// An error an edit closure returns (kept whole, so its file:line:column survives).
pub type EditError = Box<dyn std::error::Error + Send + Sync>;

/// Why a GitOps repository operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GitopsRepoError {
    /// The repository could not be opened or created.
    #[error("cannot open the GitOps repository '{location}': {source}")]
    Open {
        /// The path or URL.
        location: String,
        /// libgit2's error.
        #[source]
        source: git2::Error,
    },
    /// A temporary directory for the clone could not be created.
    #[error("cannot create a temporary directory for the GitOps clone: {source}")]
    TempDir {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Fetching from the remote failed.
    #[error("cannot fetch branch '{branch}' from '{url}': {source}")]
    Fetch {
        /// The remote URL.
        url: String,
        /// The branch.
        branch: String,
        /// libgit2's error.
        #[source]
        source: git2::Error,
    },
    /// The remote refused the credentials.
    #[error(
        "authentication to '{url}' failed: {source}; set GITOPS_GIT_TOKEN or GITHUB_TOKEN (HTTPS), or GITOPS_SSH_KEY / an SSH agent (SSH)"
    )]
    Auth {
        /// The remote URL.
        url: String,
        /// libgit2's error.
        #[source]
        source: git2::Error,
    },
    /// The branch does not exist.
    #[error("branch '{branch}' does not exist in '{location}'; create it or set gitops.branch")]
    BranchNotFound {
        /// The path or URL.
        location: String,
        /// The branch.
        branch: String,
    },
    /// A file in the base commit is not UTF-8 text.
    #[error("'{path}' in commit {commit} is not UTF-8 text")]
    NotText {
        /// The file.
        path: String,
        /// The commit read.
        commit: String,
    },
    /// A path is not a plain relative path inside the repository.
    #[error("'{path}' is not a relative path inside the repository (no '..', no leading '/')")]
    InvalidPath {
        /// The path.
        path: String,
    },
    /// The edit itself failed (malformed manifest, unknown image, ...).
    #[error("{source}")]
    Edit {
        /// The edit's error.
        #[source]
        source: EditError,
    },
    /// A local git operation failed.
    #[error("git {action} failed in '{location}': {source}")]
    Git {
        /// What was being done.
        action: &'static str,
        /// The path or URL.
        location: String,
        /// libgit2's error.
        #[source]
        source: git2::Error,
    },
    /// The checked-out working tree has local changes in a file the deploy writes.
    #[error(
        "'{path}' has uncommitted changes in the checkout '{location}' of branch '{branch}'; commit or discard them before deploying"
    )]
    Dirty {
        /// The checkout.
        location: String,
        /// The branch.
        branch: String,
        /// The file.
        path: String,
    },
    /// Every attempt to land the commit was refused.
    #[error(
        "could not land the commit on '{branch}' of '{location}' after {attempts} attempt(s): {last}; other writers kept moving the branch or the remote refuses pushes (hooks, protection: try gitops.mode: pull-request)"
    )]
    PushFailed {
        /// The path or URL.
        location: String,
        /// The branch.
        branch: String,
        /// Attempts made.
        attempts: u32,
        /// The last refusal or error.
        last: String,
    },
    /// A commit named by the user does not exist.
    #[error("commit '{commit}' not found in '{location}'; fetch it or check the sha")]
    CommitNotFound {
        /// The sha or revision given.
        commit: String,
        /// The path or URL.
        location: String,
    },
    /// A cherry-pick conflicts; the branch was left untouched.
    #[error(
        "cherry-picking {commit} onto '{branch}' conflicts in {}; the branch was left untouched: resolve it by hand (git cherry-pick {commit})",
        paths.join(", ")
    )]
    Conflict {
        /// The commit picked.
        commit: String,
        /// The branch it was picked onto.
        branch: String,
        /// Conflicting paths.
        paths: Vec<String>,
    },
}

/// Where the GitOps repository is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A remote URL (`https://`, `ssh://`, `git://`, `user@host:path`).
    Url(String),
    /// A local repository (a checkout or a bare repository; `file://` URLs become paths).
    Path(PathBuf),
}

impl Location {
    /// Reads `--gitops-repo` / `gitops.repo`: `file://` URLs and plain paths are local, other
    /// URLs and scp-like `user@host:path` are remote.
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("file://") {
            return Self::Path(PathBuf::from(rest));
        }
        if text.contains("://") || is_scp_like(text) {
            return Self::Url(text.to_owned());
        }
        Self::Path(PathBuf::from(text))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Url(url) => f.write_str(&redact_url(url)),
            Self::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Git's rule: a colon before any slash means `host:path` (except `C:` drive letters).
fn is_scp_like(text: &str) -> bool {
    match text.find(':') {
        Some(colon) => {
            let before = &text[..colon];
            before.len() > 1 && !before.contains('/')
        }
        None => false,
    }
}

/// Removes a password or token embedded in a URL (`https://user:secret@host` -> `https://user:***@host`).
fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{}{user}:***@{}", &url[..scheme_end + 3], &rest[at + 1..])
        }
        None => url.to_owned(),
    }
}

/// How many local checkouts `open` follows through their `origin` before writing directly.
const MAX_LOCAL_HOPS: usize = 4;

/// Total attempts allowed per refused attempt of the budget when other writers keep landing.
const CONTENTION_FACTOR: u32 = 4;

/// Retry behaviour of [`GitopsRepo::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Refused attempts before giving up (at least 1). A refusal after which the branch
    /// moved (another writer landed) does not count against it; those are capped at
    /// `attempts * 4` in total so the loop stays bounded.
    pub attempts: u32,
    /// First backoff; doubles per attempt.
    pub base_delay: Duration,
    /// Longest backoff.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 10,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: a random delay between 0 and `min(max, base * 2^attempt)`.
    fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
            .min(self.max_delay);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }
}

/// What to write and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRequest {
    /// The branch to write to (or base the pull-request branch on).
    pub branch: String,
    /// Pull-request mode: push `<prefix><short sha>` instead of the branch, e.g.
    /// `gitops/production/`.
    pub pull_request_prefix: Option<String>,
    /// Author and committer.
    pub author: Author,
    /// Commit time.
    pub time: DateTime<Utc>,
    /// Retries.
    pub retry: RetryPolicy,
}

/// The result of a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteOutcome {
    /// The plan of the attempt that landed (or found nothing to do).
    pub plan: WritePlan,
    /// The new commit; none when nothing changed.
    pub commit: Option<String>,
    /// The branch the commit landed on.
    pub pushed_branch: String,
    /// Attempts made (1 when the first one landed).
    pub attempts: u32,
}

/// Read access to the files of the base commit, given to edit closures.
pub struct BaseTree<'r> {
    repo: &'r Repository,
    tree: Option<Tree<'r>>,
    commit: Option<Oid>,
    // Each file is inflated once: blobs fetched in a pack are deltified, and libgit2 does
    // not cache blobs, so a second read would resolve the delta chain again.
    cache: std::cell::RefCell<std::collections::HashMap<String, Option<String>>>,
}

impl BaseTree<'_> {
    /// The text of `path` in the base commit; `None` when the file does not exist.
    pub fn read(&self, path: &str) -> Result<Option<String>, GitopsRepoError> {
        let clean = clean_path(path)?;
        if let Some(cached) = self.cache.borrow().get(&clean) {
            return Ok(cached.clone());
        }
        let text = self.read_uncached(&clean)?;
        self.cache.borrow_mut().insert(clean, text.clone());
        Ok(text)
    }

    fn read_uncached(&self, clean: &str) -> Result<Option<String>, GitopsRepoError> {
        let Some(tree) = &self.tree else {
            return Ok(None);
        };
        let clean = clean.to_owned();
        let entry = match tree.get_path(Path::new(&clean)) {
            Ok(entry) => entry,
            Err(err) if err.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(source) => {
                return Err(GitopsRepoError::Git {
                    action: "read tree",
                    location: String::new(),
                    source,
                });
            }
        };
        if entry.kind() != Some(ObjectType::Blob) {
            return Ok(None);
        }
        let blob = self
            .repo
            .find_blob(entry.id())
            .map_err(|source| GitopsRepoError::Git {
                action: "read blob",
                location: String::new(),
                source,
            })?;
        match std::str::from_utf8(blob.content()) {
            Ok(text) => Ok(Some(text.to_owned())),
            Err(_) => Err(GitopsRepoError::NotText {
                path: clean,
                commit: self.commit.map(|c| c.to_string()).unwrap_or_default(),
            }),
        }
    }

    /// The base commit's sha (none: the branch does not exist yet).
    pub fn commit(&self) -> Option<String> {
        self.commit.map(|oid| oid.to_string())
    }
}

fn clean_path(path: &str) -> Result<String, GitopsRepoError> {
    let trimmed = path.trim_start_matches("./");
    let parts: Vec<&str> = trimmed
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    if path.starts_with('/') || parts.is_empty() || parts.contains(&"..") {
        return Err(GitopsRepoError::InvalidPath {
            path: path.to_owned(),
        });
    }
    Ok(parts.join("/"))
}

/// How a commit is landed.
#[derive(Debug)]
enum Target {
    /// Move the branch reference in this repository with compare-and-swap.
    Direct,
    /// Push to this URL.
    Remote { url: String },
}

/// What one attempt prepared.
enum Prepared {
    Unchanged(WritePlan),
    Commit {
        plan: WritePlan,
        tree: Oid,
        author: Option<Signature<'static>>,
    },
}

/// An open GitOps repository.
pub struct GitopsRepo {
    repo: Repository,
    target: Target,
    location: String,
    credentials: GitCredentials,
    /// Fetch only the tip (a private temporary clone that only writes); cleared once full
    /// history is needed (ledger, cherry-pick).
    shallow: bool,
    // Dropped last: the temporary clone, when the location is a URL.
    _temp: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for GitopsRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitopsRepo")
            .field("location", &self.location)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl GitopsRepo {
    /// Opens the repository. A URL gets a private temporary bare repository (removed when
    /// this value is dropped); a local checkout whose `remote` (e.g. `origin`) is a network
    /// URL pushes there; a local checkout without one, a bare repository or a remote that is
    /// itself a local path is written directly.
    pub fn open(
        location: &Location,
        remote: &str,
        credentials: GitCredentials,
    ) -> Result<Self, GitopsRepoError> {
        Self::open_following(location, remote, credentials, 0)
    }

    /// [`GitopsRepo::open`], following local `remote`s at most [`MAX_LOCAL_HOPS`] times (a
    /// cycle of checkouts pointing at each other ends there, written directly).
    fn open_following(
        location: &Location,
        remote: &str,
        credentials: GitCredentials,
        hops: usize,
    ) -> Result<Self, GitopsRepoError> {
        let shown = location.to_string();
        match location {
            Location::Url(url) => {
                let temp = tempfile::Builder::new()
                    .prefix("gitops-clone-")
                    .tempdir()
                    .map_err(|source| GitopsRepoError::TempDir { source })?;
                let repo =
                    Repository::init_bare(temp.path()).map_err(|source| GitopsRepoError::Open {
                        location: shown.clone(),
                        source,
                    })?;
                Ok(Self {
                    repo,
                    target: Target::Remote { url: url.clone() },
                    location: shown,
                    credentials,
                    shallow: true,
                    _temp: Some(temp),
                })
            }
            Location::Path(path) => {
                let repo = Repository::open(path).map_err(|source| GitopsRepoError::Open {
                    location: shown.clone(),
                    source,
                })?;
                let remote_url = if repo.is_bare() || hops >= MAX_LOCAL_HOPS {
                    None
                } else {
                    repo.find_remote(remote)
                        .ok()
                        .and_then(|r| r.url().ok().map(str::to_owned))
                };
                match remote_url.map(|url| Location::parse(&url)) {
                    Some(Location::Url(url)) => Ok(Self {
                        repo,
                        target: Target::Remote { url },
                        location: shown,
                        credentials,
                        shallow: false,
                        _temp: None,
                    }),
                    Some(Location::Path(remote_path)) => {
                        let base = repo.workdir().unwrap_or_else(|| repo.path()).to_path_buf();
                        let remote_path = if remote_path.is_relative() {
                            base.join(remote_path)
                        } else {
                            remote_path
                        };
                        Self::open_following(
                            &Location::Path(remote_path),
                            remote,
                            credentials,
                            hops + 1,
                        )
                    }
                    None => Ok(Self {
                        repo,
                        target: Target::Direct,
                        location: shown,
                        credentials,
                        shallow: false,
                        _temp: None,
                    }),
                }
            }
        }
    }

    /// The repository's path or URL, for messages (tokens in URLs are redacted).
    pub fn location(&self) -> &str {
        &self.location
    }

    fn git_err(&self, action: &'static str) -> impl FnOnce(git2::Error) -> GitopsRepoError + '_ {
        move |source| GitopsRepoError::Git {
            action,
            location: self.location.clone(),
            source,
        }
    }

    fn tracking_ref(branch: &str) -> String {
        format!("refs/gitops-remote/heads/{branch}")
    }

    fn fetch_error(&self, url: &str, branch: &str, source: git2::Error) -> GitopsRepoError {
        if transport::is_auth_error(&source) {
            GitopsRepoError::Auth {
                url: redact_url(url),
                source,
            }
        } else {
            GitopsRepoError::Fetch {
                url: redact_url(url),
                branch: branch.to_owned(),
                source,
            }
        }
    }

    /// 1 for write-only temporary clones; full history otherwise (deepening a clone that
    /// was shallow so far).
    fn fetch_depth(&self) -> i32 {
        if self.shallow {
            1
        } else if self.repo.is_shallow() {
            i32::MAX
        } else {
            0
        }
    }

    /// The current tip of `branch` (fetched first for remotes); none when it does not exist.
    pub fn tip(&mut self, branch: &str) -> Result<Option<Oid>, GitopsRepoError> {
        match &self.target {
            Target::Direct => match self.repo.find_reference(&format!("refs/heads/{branch}")) {
                Ok(reference) => Ok(reference.target()),
                Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(None),
                Err(source) => Err(self.git_err("read branch")(source)),
            },
            Target::Remote { url } => {
                let url = url.clone();
                let tracking = Self::tracking_ref(branch);
                // A stale private ref would hide a deleted remote branch.
                if let Ok(mut stale) = self.repo.find_reference(&tracking) {
                    let _ = stale.delete();
                }
                let refspec = format!("+refs/heads/{branch}:{tracking}");
                transport::fetch(
                    &self.repo,
                    &url,
                    &[refspec],
                    &self.credentials,
                    self.fetch_depth(),
                )
                .map_err(|source| self.fetch_error(&url, branch, source))?;
                match self.repo.find_reference(&tracking) {
                    Ok(reference) => Ok(reference.target()),
                    Err(_) => Ok(None),
                }
            }
        }
    }

    /// Reads the commits of `branch`, newest first (at most `limit`), for the ledger.
    pub fn log(&mut self, branch: &str, limit: usize) -> Result<Vec<CommitInfo>, GitopsRepoError> {
        self.shallow = false;
        let Some(tip) = self.tip(branch)? else {
            return Err(GitopsRepoError::BranchNotFound {
                location: self.location.clone(),
                branch: branch.to_owned(),
            });
        };
        let mut walk = self.repo.revwalk().map_err(self.git_err("log"))?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)
            .map_err(self.git_err("log"))?;
        walk.push(tip).map_err(self.git_err("log"))?;
        let mut commits = Vec::new();
        for oid in walk.take(limit) {
            let oid = oid.map_err(self.git_err("log"))?;
            let commit = self.repo.find_commit(oid).map_err(self.git_err("log"))?;
            commits.push(commit_info(&commit));
        }
        Ok(commits)
    }

    /// The text of `path` at the tip of `branch` (fetched first for remotes).
    pub fn read_file(
        &mut self,
        branch: &str,
        path: &str,
    ) -> Result<Option<String>, GitopsRepoError> {
        let tip = self.tip(branch)?;
        let base = self.base_tree(tip)?;
        base.read(path)
    }

    fn base_tree(&self, tip: Option<Oid>) -> Result<BaseTree<'_>, GitopsRepoError> {
        let tree = match tip {
            Some(oid) => Some(
                self.repo
                    .find_commit(oid)
                    .and_then(|c| c.tree())
                    .map_err(self.git_err("read commit"))?,
            ),
            None => None,
        };
        Ok(BaseTree {
            repo: &self.repo,
            tree,
            commit: tip,
            cache: std::cell::RefCell::default(),
        })
    }

    fn target_branch_name(request: &WriteRequest) -> String {
        match &request.pull_request_prefix {
            Some(prefix) => format!("{prefix}<short-sha>"),
            None => request.branch.clone(),
        }
    }

    fn prepare_edit<F>(
        &self,
        request: &WriteRequest,
        tip: Option<Oid>,
        edit: &mut F,
    ) -> Result<Prepared, GitopsRepoError>
    where
        F: FnMut(&BaseTree<'_>) -> Result<Proposal, EditError>,
    {
        let base = self.base_tree(tip)?;
        let proposal = edit(&base).map_err(|source| GitopsRepoError::Edit { source })?;
        let mut files = Vec::new();
        let mut builder = TreeUpdateBuilder::new();
        for write in proposal.files {
            let path = clean_path(&write.path)?;
            let before = base.read(&path)?;
            if before.as_deref() == Some(write.content.as_str())
                || files.iter().any(|f: &FileChange| f.path == path)
            {
                continue;
            }
            let blob = self
                .repo
                .blob(write.content.as_bytes())
                .map_err(self.git_err("write blob"))?;
            builder.upsert(path.as_str(), blob, FileMode::Blob);
            files.push(FileChange {
                path,
                before,
                after: write.content,
            });
        }
        let plan = WritePlan {
            location: self.location.clone(),
            branch: request.branch.clone(),
            target_branch: Self::target_branch_name(request),
            base_commit: tip.map(|oid| oid.to_string()),
            message: proposal.message,
            author: request.author.clone(),
            files,
        };
        if plan.is_empty() {
            return Ok(Prepared::Unchanged(plan));
        }
        let tree = match &base.tree {
            Some(tree) => builder.create_updated(&self.repo, tree),
            None => {
                let empty = self
                    .repo
                    .treebuilder(None)
                    .and_then(|b| b.write())
                    .and_then(|oid| self.repo.find_tree(oid))
                    .map_err(self.git_err("build tree"))?;
                builder.create_updated(&self.repo, &empty)
            }
        }
        .map_err(self.git_err("build tree"))?;
        Ok(Prepared::Commit {
            plan,
            tree,
            author: None,
        })
    }

    /// Computes what [`GitopsRepo::write`] would do now, without writing anything.
    pub fn plan<F>(
        &mut self,
        request: &WriteRequest,
        mut edit: F,
    ) -> Result<WritePlan, GitopsRepoError>
    where
        F: FnMut(&BaseTree<'_>) -> Result<Proposal, EditError>,
    {
        let tip = self.tip(&request.branch)?;
        match self.prepare_edit(request, tip, &mut edit)? {
            Prepared::Unchanged(plan) | Prepared::Commit { plan, .. } => Ok(plan),
        }
    }

    /// Applies the edit on the branch tip as one commit and lands it, re-applying the edit on
    /// the new tip whenever another writer got there first. No commit when nothing changes.
    pub fn write<F>(
        &mut self,
        request: &WriteRequest,
        mut edit: F,
    ) -> Result<WriteOutcome, GitopsRepoError>
    where
        F: FnMut(&BaseTree<'_>) -> Result<Proposal, EditError>,
    {
        self.land(request, |this, tip| {
            this.prepare_edit(request, tip, &mut edit)
        })
    }

    /// The retry loop shared by edits and cherry-picks.
    fn land<P>(
        &mut self,
        request: &WriteRequest,
        mut prepare: P,
    ) -> Result<WriteOutcome, GitopsRepoError>
    where
        P: FnMut(&Self, Option<Oid>) -> Result<Prepared, GitopsRepoError>,
    {
        let budget = request.retry.attempts.max(1);
        let hard_cap = budget.saturating_mul(CONTENTION_FACTOR);
        let mut last = String::from("no attempt made");
        let mut failures = 0u32;
        let mut previous_base: Option<Option<Oid>> = None;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if attempt > 1 {
                std::thread::sleep(request.retry.delay(attempt - 1));
            }
            let tip = self.tip(&request.branch)?;
            // A refusal after which the branch moved means another writer landed: progress
            // for the system, so it spends the larger contention cap, not the budget.
            if previous_base == Some(tip) {
                failures += 1;
            }
            if failures >= budget || attempt > hard_cap {
                return Err(GitopsRepoError::PushFailed {
                    location: self.location.clone(),
                    branch: request.branch.clone(),
                    attempts: attempt - 1,
                    last,
                });
            }
            previous_base = Some(tip);
            if tip.is_none() && request.pull_request_prefix.is_some() {
                return Err(GitopsRepoError::BranchNotFound {
                    location: self.location.clone(),
                    branch: request.branch.clone(),
                });
            }
            let (mut plan, tree, author) = match prepare(self, tip)? {
                Prepared::Unchanged(plan) => {
                    return Ok(WriteOutcome {
                        pushed_branch: plan.target_branch.clone(),
                        plan,
                        commit: None,
                        attempts: attempt,
                    });
                }
                Prepared::Commit { plan, tree, author } => (plan, tree, author),
            };
            let commit = self.create_commit(&plan, tree, tip, author.as_ref(), request)?;
            let branch = match &request.pull_request_prefix {
                Some(prefix) => {
                    let short: String = commit.to_string().chars().take(7).collect();
                    format!("{prefix}{short}")
                }
                None => request.branch.clone(),
            };
            plan.target_branch = branch.clone();
            let landed = match &self.target {
                Target::Direct => self.land_direct(&branch, tip, commit, &plan)?,
                Target::Remote { url } => {
                    let url = url.clone();
                    self.land_remote(&url, &branch, commit)?
                }
            };
            match landed {
                Ok(()) => {
                    return Ok(WriteOutcome {
                        plan,
                        commit: Some(commit.to_string()),
                        pushed_branch: branch,
                        attempts: attempt,
                    });
                }
                Err(reason) => last = reason,
            }
        }
    }

    fn create_commit(
        &self,
        plan: &WritePlan,
        tree: Oid,
        parent: Option<Oid>,
        author: Option<&Signature<'_>>,
        request: &WriteRequest,
    ) -> Result<Oid, GitopsRepoError> {
        let time = git2::Time::new(request.time.timestamp(), 0);
        let committer = Signature::new(&request.author.name, &request.author.email, &time)
            .map_err(self.git_err("create signature"))?;
        let author = author.unwrap_or(&committer);
        let tree = self.repo.find_tree(tree).map_err(self.git_err("commit"))?;
        let parent = match parent {
            Some(oid) => Some(self.repo.find_commit(oid).map_err(self.git_err("commit"))?),
            None => None,
        };
        let parents: Vec<&Commit<'_>> = parent.iter().collect();
        // No reference is updated here: the commit only becomes visible once it has landed.
        self.repo
            .commit(None, author, &committer, &plan.message, &tree, &parents)
            .map_err(self.git_err("commit"))
    }

    /// Moves `refs/heads/<branch>` from `expected` to `commit` if nobody moved it meanwhile.
    /// `Ok(Err(reason))` means another writer won and the caller should retry.
    fn land_direct(
        &self,
        branch: &str,
        expected: Option<Oid>,
        commit: Oid,
        plan: &WritePlan,
    ) -> Result<Result<(), String>, GitopsRepoError> {
        let refname = format!("refs/heads/{branch}");
        let checked_out = self.checked_out(&refname);
        if checked_out {
            self.ensure_clean(branch, plan)?;
        }
        let message = format!(
            "gitops: {}",
            plan.message.lines().next().unwrap_or_default()
        );
        let result = match expected {
            Some(old) => self
                .repo
                .reference_matching(&refname, commit, true, old, &message),
            None => self.repo.reference(&refname, commit, false, &message),
        };
        match result {
            Ok(_) => {}
            Err(err)
                if matches!(
                    err.code(),
                    git2::ErrorCode::Modified | git2::ErrorCode::Exists | git2::ErrorCode::Locked
                ) =>
            {
                return Ok(Err(format!("branch moved meanwhile ({})", err.message())));
            }
            Err(source) => return Err(self.git_err("update branch")(source)),
        }
        if checked_out {
            // The touched files were clean, so forcing just them updates index and files.
            let mut checkout = git2::build::CheckoutBuilder::new();
            checkout.force();
            for file in &plan.files {
                checkout.path(file.path.as_str());
            }
            self.repo
                .checkout_head(Some(&mut checkout))
                .map_err(self.git_err("update the working tree"))?;
        }
        Ok(Ok(()))
    }

    fn checked_out(&self, refname: &str) -> bool {
        if self.repo.is_bare() {
            return false;
        }
        self.repo
            .find_reference("HEAD")
            .ok()
            .and_then(|head| head.symbolic_target().ok().flatten().map(str::to_owned))
            .is_some_and(|target| target == refname)
    }

    fn ensure_clean(&self, branch: &str, plan: &WritePlan) -> Result<(), GitopsRepoError> {
        for file in &plan.files {
            let status = match self.repo.status_file(Path::new(&file.path)) {
                Ok(status) => status,
                Err(err) if err.code() == git2::ErrorCode::NotFound => continue,
                Err(source) => return Err(self.git_err("status")(source)),
            };
            if !(status.is_empty() || status == git2::Status::CURRENT) {
                return Err(GitopsRepoError::Dirty {
                    location: self.location.clone(),
                    branch: branch.to_owned(),
                    path: file.path.clone(),
                });
            }
        }
        Ok(())
    }

    /// Pushes `commit` to `branch` and confirms it through ls-remote.
    fn land_remote(
        &self,
        url: &str,
        branch: &str,
        commit: Oid,
    ) -> Result<Result<(), String>, GitopsRepoError> {
        let refname = format!("refs/heads/{branch}");
        let refspec = format!("{commit}:{refname}");
        match transport::push(&self.repo, url, &refspec, &self.credentials) {
            Ok(transport::PushResult::Accepted) => {}
            Ok(transport::PushResult::Rejected(reason)) => {
                return Ok(Err(format!("push rejected: {reason}")));
            }
            Err(source) if transport::is_auth_error(&source) => {
                return Err(GitopsRepoError::Auth {
                    url: redact_url(url),
                    source,
                });
            }
            Err(err) => return Ok(Err(format!("push failed: {}", err.message()))),
        }
        match transport::ls_remote(&self.repo, url, &refname, &self.credentials) {
            Ok(Some(remote)) if remote == commit => {
                // Keep the private tracking ref current for later reads.
                let _ = self.repo.reference(
                    &Self::tracking_ref(branch),
                    commit,
                    true,
                    "gitops: pushed",
                );
                Ok(Ok(()))
            }
            Ok(Some(remote)) => Ok(Err(format!(
                "the push reported success but the remote branch is at {remote}, not {commit}"
            ))),
            Ok(None) => Ok(Err(format!(
                "the push reported success but the remote has no {refname}"
            ))),
            Err(err) => Ok(Err(format!(
                "cannot confirm the push (ls-remote): {}",
                err.message()
            ))),
        }
    }

    /// Cherry-picks `commit` onto `request.branch` as one new commit (original author, the
    /// policy's committer) and lands it with the same retry loop as [`GitopsRepo::write`].
    /// A conflict leaves the branch untouched and returns [`GitopsRepoError::Conflict`];
    /// a pick that changes nothing (already applied) makes no commit.
    pub fn cherry_pick(
        &mut self,
        commit: &str,
        request: &WriteRequest,
    ) -> Result<WriteOutcome, GitopsRepoError> {
        let picked = self.resolve_commit(commit)?;
        self.land(request, |this, tip| this.prepare_pick(picked, request, tip))
    }

    /// Finds a commit by sha or revision, fetching every branch of a remote first.
    pub fn resolve_commit(&mut self, commit: &str) -> Result<Oid, GitopsRepoError> {
        if let Target::Remote { url } = &self.target {
            let url = url.clone();
            let refspec = "+refs/heads/*:refs/gitops-remote/heads/*".to_owned();
            self.shallow = false;
            transport::fetch(
                &self.repo,
                &url,
                &[refspec],
                &self.credentials,
                self.fetch_depth(),
            )
            .map_err(|source| self.fetch_error(&url, "*", source))?;
        }
        self.repo
            .revparse_single(commit)
            .and_then(|object| object.peel_to_commit())
            .map(|c| c.id())
            .map_err(|_| GitopsRepoError::CommitNotFound {
                commit: commit.to_owned(),
                location: self.location.clone(),
            })
    }

    fn prepare_pick(
        &self,
        picked: Oid,
        request: &WriteRequest,
        tip: Option<Oid>,
    ) -> Result<Prepared, GitopsRepoError> {
        let Some(tip) = tip else {
            return Err(GitopsRepoError::BranchNotFound {
                location: self.location.clone(),
                branch: request.branch.clone(),
            });
        };
        let pick = self
            .repo
            .find_commit(picked)
            .map_err(self.git_err("cherry-pick"))?;
        let ours = self
            .repo
            .find_commit(tip)
            .map_err(self.git_err("cherry-pick"))?;
        let mainline = if pick.parent_count() > 1 { 1 } else { 0 };
        let mut index = self
            .repo
            .cherrypick_commit(&pick, &ours, mainline, None)
            .map_err(self.git_err("cherry-pick"))?;
        if index.has_conflicts() {
            let mut paths: Vec<String> = index
                .conflicts()
                .map_err(self.git_err("cherry-pick"))?
                .filter_map(Result::ok)
                .filter_map(|conflict| {
                    conflict
                        .our
                        .or(conflict.their)
                        .or(conflict.ancestor)
                        .map(|entry| String::from_utf8_lossy(&entry.path).into_owned())
                })
                .collect();
            paths.sort();
            paths.dedup();
            return Err(GitopsRepoError::Conflict {
                commit: picked.to_string(),
                branch: request.branch.clone(),
                paths,
            });
        }
        let tree = index
            .write_tree_to(&self.repo)
            .map_err(self.git_err("cherry-pick"))?;
        let base_tree = ours.tree().map_err(self.git_err("cherry-pick"))?;
        let new_tree = self
            .repo
            .find_tree(tree)
            .map_err(self.git_err("cherry-pick"))?;
        let diff = self
            .repo
            .diff_tree_to_tree(Some(&base_tree), Some(&new_tree), None)
            .map_err(self.git_err("cherry-pick"))?;
        let files: Vec<FileChange> = diff
            .deltas()
            .filter_map(|delta| {
                delta
                    .new_file()
                    .path()
                    .or_else(|| delta.old_file().path())
                    .map(|p| FileChange {
                        path: p.to_string_lossy().into_owned(),
                        before: None,
                        after: String::new(),
                    })
            })
            .collect();
        let message = format!(
            "{}\n\n(cherry picked from commit {picked})\n",
            pick.message().unwrap_or_default().trim_end()
        );
        let plan = WritePlan {
            location: self.location.clone(),
            branch: request.branch.clone(),
            target_branch: Self::target_branch_name(request),
            base_commit: Some(tip.to_string()),
            message,
            author: request.author.clone(),
            files,
        };
        if plan.is_empty() {
            return Ok(Prepared::Unchanged(plan));
        }
        let original = pick.author();
        let author = Signature::new(
            original.name().unwrap_or("unknown"),
            original.email().unwrap_or("unknown"),
            &original.when(),
        )
        .map_err(self.git_err("cherry-pick"))?;
        Ok(Prepared::Commit {
            plan,
            tree,
            author: Some(author),
        })
    }
}

fn commit_info(commit: &Commit<'_>) -> CommitInfo {
    let author = commit.author();
    let time = DateTime::from_timestamp(commit.time().seconds(), 0).unwrap_or_default();
    CommitInfo {
        commit: commit.id().to_string(),
        time,
        author: format!(
            "{} <{}>",
            author.name().unwrap_or("unknown"),
            author.email().unwrap_or("unknown")
        ),
        message: commit.message().unwrap_or_default().to_owned(),
    }
}

/// A unified diff of one file change (for `--dry-run`).
pub fn unified_diff(change: &FileChange) -> String {
    let before = change.before.as_deref().unwrap_or("");
    let path = Path::new(&change.path);
    match git2::Patch::from_buffers(
        before.as_bytes(),
        Some(path),
        change.after.as_bytes(),
        Some(path),
        None,
    )
    .and_then(|mut patch| patch.to_buf())
    {
        Ok(buf) => String::from_utf8_lossy(&buf).into_owned(),
        Err(_) => format!("--- a/{0}\n+++ b/{0}\n(diff unavailable)\n", change.path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            Location::parse("file:///tmp/x.git"),
            Location::Path(PathBuf::from("/tmp/x.git"))
        );
        assert_eq!(
            Location::parse("git@github.com:acme/gitops.git"),
            Location::Url("git@github.com:acme/gitops.git".into())
        );
        assert_eq!(Location::parse("."), Location::Path(PathBuf::from(".")));
        assert_eq!(
            Location::parse("./a:b"),
            Location::Path(PathBuf::from("./a:b"))
        );
        assert_eq!(
            Location::Url("https://x:secret@github.com/a/b".into()).to_string(),
            "https://x:***@github.com/a/b"
        );
    }

    #[test]
    fn paths_stay_inside() {
        assert!(clean_path("../etc/passwd").is_err());
        assert!(clean_path("/abs").is_err());
        assert_eq!(clean_path("./a//b/c.yaml").ok(), Some("a/b/c.yaml".into()));
    }

    #[test]
    fn backoff_is_bounded() {
        let retry = RetryPolicy::default();
        for attempt in 0..40 {
            assert!(retry.delay(attempt) <= retry.max_delay);
        }
    }
}
