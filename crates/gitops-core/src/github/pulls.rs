//! Pull requests for the GitOps pull-request write mode: open one for a pushed branch, or
//! update the one already open.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{GithubClient, GithubError, Verb, encode};

/// A pull request (the fields used).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// Number.
    pub number: u64,
    /// Web URL.
    pub html_url: String,
    /// Title.
    #[serde(default)]
    pub title: String,
    /// `open` or `closed`.
    #[serde(default)]
    pub state: String,
}

/// What `open_or_update_pull_request` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestOutcome {
    /// The pull request.
    pub pull_request: PullRequest,
    /// `created` or `updated`.
    pub action: String,
}

impl GithubClient {
    /// Opens a pull request from `branch` into `base`, or updates the title and body of the
    /// one already open.
    pub async fn open_or_update_pull_request(
        &self,
        branch: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequestOutcome, GithubError> {
        let existing: Vec<PullRequest> = self
            .list(
                &format!(
                    "{}/pulls?state=open&head={}&base={}&per_page=100",
                    self.repo_path(),
                    encode(&format!("{}:{branch}", self.owner())),
                    encode(base)
                ),
                None,
                &format!("look for an open pull request from {branch}"),
            )
            .await?;
        if let Some(pr) = existing.first() {
            let updated: PullRequest = self
                .json(
                    Verb::Patch,
                    &format!("{}/pulls/{}", self.repo_path(), pr.number),
                    Some(&json!({"title": title, "body": body})),
                    &format!("update pull request #{}", pr.number),
                )
                .await?;
            return Ok(PullRequestOutcome {
                pull_request: updated,
                action: "updated".to_owned(),
            });
        }
        let created: PullRequest = self
            .json(
                Verb::Post,
                &format!("{}/pulls", self.repo_path()),
                Some(&json!({"title": title, "head": branch, "base": base, "body": body, "maintainer_can_modify": true})),
                &format!("open a pull request from {branch} into {base}"),
            )
            .await?;
        Ok(PullRequestOutcome {
            pull_request: created,
            action: "created".to_owned(),
        })
    }
}
