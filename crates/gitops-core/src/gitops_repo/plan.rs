//! Write plans as data: which files change (before and after text), the commit message and
//! where it goes. Computed first, printed by `--dry-run`, then carried out.

use serde::{Deserialize, Serialize};

/// Commit author (and committer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// Name.
    pub name: String,
    /// E-mail address.
    pub email: String,
}

/// One file's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    /// Path relative to the repository root, `/`-separated.
    pub path: String,
    /// Text before (none: the file is new).
    #[serde(skip)]
    pub before: Option<String>,
    /// Text after.
    #[serde(skip)]
    pub after: String,
}

/// A file the edit wants to hold `content` (unchanged files are dropped from the plan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite {
    /// Path relative to the repository root, `/`-separated.
    pub path: String,
    /// The whole new text.
    pub content: String,
}

/// What an edit proposes on top of a base commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Files and their wanted content.
    pub files: Vec<FileWrite>,
    /// The commit message.
    pub message: String,
}

/// A computed write: apply `files` on top of `base_commit` of `branch` as one commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WritePlan {
    /// The repository (URL or path) written to.
    pub location: String,
    /// The branch the change is based on.
    pub branch: String,
    /// The branch the commit is pushed to: `branch`, or `gitops/<env>/<short>` in
    /// pull-request mode (the `<short>` part is filled in when the commit exists).
    pub target_branch: String,
    /// The tip the plan was computed against (none: the branch does not exist yet).
    pub base_commit: Option<String>,
    /// The commit message.
    pub message: String,
    /// Author and committer.
    pub author: Author,
    /// Changed files only.
    pub files: Vec<FileChange>,
}

impl WritePlan {
    /// Whether nothing would change (no commit is made).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The changed paths.
    pub fn changed_paths(&self) -> Vec<String> {
        self.files.iter().map(|file| file.path.clone()).collect()
    }
}
