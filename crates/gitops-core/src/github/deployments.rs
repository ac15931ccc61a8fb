//! Deployments and deployment statuses.

use serde::{Deserialize, Serialize};

use super::{GithubClient, GithubError, Verb, encode};

/// A deployment as GitHub returns it (the fields used).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Deployment ID.
    pub id: u64,
    /// Commit SHA deployed.
    #[serde(default)]
    pub sha: String,
    /// Ref given when creating it.
    #[serde(rename = "ref", default)]
    pub git_ref: String,
    /// Environment name.
    #[serde(default)]
    pub environment: String,
    /// Creation time (RFC 3339).
    #[serde(default)]
    pub created_at: String,
}

/// A deployment status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentStatus {
    /// Status ID.
    pub id: u64,
    /// `error`, `failure`, `inactive`, `in_progress`, `queued`, `pending`, `success`.
    pub state: String,
    /// The environment's URL.
    #[serde(default)]
    pub environment_url: Option<String>,
    /// The job log.
    #[serde(default)]
    pub log_url: Option<String>,
}

/// States a deployment status can be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    /// Running.
    InProgress,
    /// Finished and live.
    Success,
    /// Finished and failed.
    Failure,
    /// Superseded by a newer deployment.
    Inactive,
}

impl DeploymentState {
    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Inactive => "inactive",
        }
    }
}

/// `POST /repos/{o}/{r}/deployments` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewDeployment {
    /// Commit SHA (or ref) to deploy.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// Environment name.
    pub environment: String,
    /// Shown in the UI.
    pub description: String,
    /// Whether this is the production environment.
    pub production_environment: bool,
    /// Never merge the default branch into the ref.
    pub auto_merge: bool,
    /// Do not wait for commit statuses: the pipeline already gated the build.
    pub required_contexts: Vec<String>,
}

/// A status to post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusUpdate {
    /// The state.
    pub state: DeploymentState,
    /// The environment's URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_url: Option<String>,
    /// The job log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_url: Option<String>,
    /// Shown in the UI (at most 140 characters).
    pub description: String,
    /// Leave older deployments alone: inactivation is explicit (see
    /// [`GithubClient::inactivate_older_deployments`]).
    pub auto_inactive: bool,
}

impl GithubClient {
    /// Creates a deployment. GitHub answers 202 with a message instead of a deployment when
    /// it merged something: that is reported as a validation error.
    pub async fn create_deployment(&self, new: &NewDeployment) -> Result<Deployment, GithubError> {
        let action = format!(
            "create a deployment of {} to {}",
            new.git_ref, new.environment
        );
        let value: serde_json::Value = self
            .json(
                Verb::Post,
                &format!("{}/deployments", self.repo_path()),
                Some(new),
                &action,
            )
            .await?;
        if value.get("id").is_none() {
            return Err(GithubError::Validation {
                action,
                message: super::error_message(&value.to_string()),
            });
        }
        serde_json::from_value(value).map_err(|source| GithubError::Decode { action, source })
    }

    /// Posts a status on a deployment.
    pub async fn create_deployment_status(
        &self,
        deployment_id: u64,
        update: &StatusUpdate,
    ) -> Result<DeploymentStatus, GithubError> {
        let mut update = update.clone();
        update.description = update.description.chars().take(140).collect();
        self.json(
            Verb::Post,
            &format!("{}/deployments/{deployment_id}/statuses", self.repo_path()),
            Some(&update),
            &format!(
                "set deployment {deployment_id} to {}",
                update.state.as_str()
            ),
        )
        .await
    }

    /// Deployments of an environment (newest first), optionally only for one SHA; follows
    /// pagination.
    pub async fn list_deployments(
        &self,
        environment: &str,
        sha: Option<&str>,
    ) -> Result<Vec<Deployment>, GithubError> {
        let mut uri = format!(
            "{}/deployments?environment={}&per_page=100",
            self.repo_path(),
            encode(environment)
        );
        if let Some(sha) = sha {
            uri.push_str(&format!("&sha={}", encode(sha)));
        }
        self.list(&uri, None, &format!("list deployments of {environment}"))
            .await
    }

    /// The newest status of a deployment, if any.
    pub async fn latest_status(
        &self,
        deployment_id: u64,
    ) -> Result<Option<DeploymentStatus>, GithubError> {
        let statuses: Vec<DeploymentStatus> = self
            .json(
                Verb::Get,
                &format!(
                    "{}/deployments/{deployment_id}/statuses?per_page=1",
                    self.repo_path()
                ),
                None::<&()>,
                &format!("read the statuses of deployment {deployment_id}"),
            )
            .await?;
        Ok(statuses.into_iter().next())
    }

    /// Marks the other deployments of the environment that are still active (newest status
    /// `success`, `in_progress`, `queued` or `pending`) as inactive; returns their IDs.
    ///
    /// Deployments are listed newest first, one page at a time, and the walk stops at the
    /// first one already `inactive`: every run leaves all older ones inactive, so a long
    /// history costs a handful of requests instead of one per deployment ever made.
    pub async fn inactivate_older_deployments(
        &self,
        environment: &str,
        keep: u64,
    ) -> Result<Vec<u64>, GithubError> {
        let action = format!("list deployments of {environment}");
        let mut changed = Vec::new();
        let mut uri = format!(
            "{}/deployments?environment={}&per_page=100",
            self.repo_path(),
            encode(environment)
        );
        for _ in 0..super::MAX_PAGES {
            let answer = self.send(Verb::Get, &uri, None::<&()>, &action).await?;
            let page: Vec<Deployment> = super::decode(&answer.body, &action)?;
            for deployment in page {
                if deployment.id == keep {
                    continue;
                }
                let state = self.latest_status(deployment.id).await?.map(|s| s.state);
                match state.as_deref() {
                    Some("inactive") => return Ok(changed),
                    Some("failure" | "error") | None => continue,
                    Some(_) => {}
                }
                self.create_deployment_status(
                    deployment.id,
                    &StatusUpdate {
                        state: DeploymentState::Inactive,
                        environment_url: None,
                        log_url: None,
                        description: format!("superseded by deployment {keep}"),
                        auto_inactive: false,
                    },
                )
                .await?;
                changed.push(deployment.id);
            }
            match answer.next {
                Some(next) => uri = next,
                None => break,
            }
        }
        Ok(changed)
    }
}
