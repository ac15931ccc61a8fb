//! `gitops github ...`: deployments with statuses, environment and branch protection as
//! policy (`check`, `apply`), and the pull request of the GitOps pull-request write mode.
//!
//! The token comes from `GITHUB_TOKEN` (or `GH_TOKEN`) only, never from a flag, and is masked
//! before anything is printed. `GITHUB_API_URL` selects GitHub Enterprise.

use std::time::Duration;

use anyhow::Context as _;
use gitops_core::github::{
    DeploymentState, GithubClient, GithubConfig, GithubError, NewDeployment, StatusUpdate,
    compare_settings,
};
use gitops_core::policy::Policy;
use serde_json::json;

use crate::context::{Context, block_on};
use crate::exit::{self, Status};
use crate::github_actions as gha;

/// `gitops github` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum GithubCommand {
    /// Record a deployment on GitHub: `start` creates it (in_progress), `finish` sets
    /// success or failure and marks older deployments of the environment inactive.
    #[command(subcommand)]
    Deployment(DeploymentCommand),
    /// Compare environments (reviewers, wait timer, deployment branches) and branch protection
    /// (required reviews, status checks) with the policy; exit 1 when they differ.
    Check(CheckArgs),
    /// Make environments and branch protection match the policy (needs an admin token).
    Apply(ApplyArgs),
    /// Open, or update, the pull request for a GitOps branch (pull-request write mode).
    Pr(PrArgs),
}

/// `gitops github deployment` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DeploymentCommand {
    /// Create the deployment and set it in_progress.
    Start(DeploymentArgs),
    /// Set the deployment's final state.
    Finish(FinishArgs),
}

/// Where the repository is.
#[derive(Debug, Clone, clap::Args)]
pub struct RepoArgs {
    /// Repository `owner/name`.
    #[arg(long, env = "GITHUB_REPOSITORY", value_name = "OWNER/NAME")]
    pub repo: String,
    /// REST API root (GitHub Enterprise: `https://HOST/api/v3`).
    #[arg(
        long,
        env = "GITHUB_API_URL",
        default_value = "https://api.github.com",
        value_name = "URL"
    )]
    pub api_url: String,
    /// Attempts per request when rate limited.
    #[arg(long, default_value_t = 4, hide = true)]
    pub rate_limit_attempts: u32,
    /// Longest wait between rate-limited attempts, in seconds.
    #[arg(
        long,
        env = "GITOPS_GITHUB_MAX_WAIT",
        default_value_t = 60,
        hide = true
    )]
    pub rate_limit_max_wait: u64,
}

/// Final state of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FinalState {
    /// Deployed and live.
    Success,
    /// Failed.
    Failure,
}

/// Arguments of `deployment start|finish`.
#[derive(Debug, clap::Args)]
pub struct DeploymentArgs {
    /// Environment name (as in the policy and on GitHub).
    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,
    /// Commit SHA deployed.
    #[arg(long = "ref", value_name = "SHA")]
    pub git_ref: String,
    /// The environment's URL. Default: the policy's `url` of the environment.
    #[arg(long)]
    pub url: Option<String>,
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// Arguments of `deployment finish`.
#[derive(Debug, clap::Args)]
pub struct FinishArgs {
    #[command(flatten)]
    pub deployment: DeploymentArgs,
    /// Final state.
    #[arg(long, value_enum, default_value_t = FinalState::Success)]
    pub state: FinalState,
    /// Deployment to finish. Default: the newest deployment of `--ref` to `--env`.
    #[arg(long)]
    pub deployment_id: Option<u64>,
}

/// Arguments of `github check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// Arguments of `github apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// Reviewer to add to environments that need more reviewers than they have:
    /// `user:LOGIN` or `team:SLUG` (repeatable).
    #[arg(long, value_name = "user:LOGIN|team:SLUG")]
    pub reviewer: Vec<String>,
    /// Print the differences that would be applied, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// Arguments of `github pr`.
#[derive(Debug, clap::Args)]
pub struct PrArgs {
    /// The branch holding the GitOps commit.
    #[arg(long)]
    pub branch: String,
    /// The branch to merge into. Default: the policy's `gitops.branch`.
    #[arg(long)]
    pub base: Option<String>,
    /// Pull request title.
    #[arg(long)]
    pub title: String,
    /// Pull request body.
    #[arg(long, default_value = "")]
    pub body: String,
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// Runs `gitops github ...`.
pub fn run(command: GithubCommand, ctx: &Context) -> anyhow::Result<Status> {
    match command {
        GithubCommand::Deployment(DeploymentCommand::Start(args)) => deployment(args, None, ctx),
        GithubCommand::Deployment(DeploymentCommand::Finish(args)) => {
            let finish = (args.state, args.deployment_id);
            deployment(args.deployment, Some(finish), ctx)
        }
        GithubCommand::Check(args) => check(&args, ctx),
        GithubCommand::Apply(args) => apply(&args, ctx),
        GithubCommand::Pr(args) => pr(&args, ctx),
    }
}

/// The token from the environment, masked before anything else is printed.
fn token() -> anyhow::Result<String> {
    let token = ["GITHUB_TOKEN", "GH_TOKEN"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|t| !t.trim().is_empty()))
        .context("no GitHub token: set GITHUB_TOKEN (in a workflow: `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}`; settings need an admin token)")?;
    gha::mask(&token);
    Ok(token)
}

fn config(repo: &RepoArgs) -> anyhow::Result<GithubConfig> {
    Ok(GithubConfig {
        api_url: repo.api_url.clone(),
        repository: repo.repo.clone(),
        token: token()?,
        max_attempts: repo.rate_limit_attempts,
        max_wait: Duration::from_secs(repo.rate_limit_max_wait),
    })
}

/// Maps API errors: configuration problems exit 2, refusals and unreachable APIs exit 3.
fn api_error(err: GithubError) -> anyhow::Error {
    match err {
        GithubError::Config { .. } => anyhow::Error::new(err),
        other => exit::external(other),
    }
}

/// `log_url` of the running job from `GITHUB_SERVER_URL`, `GITHUB_REPOSITORY`, `GITHUB_RUN_ID`.
fn log_url(repo: &str) -> Option<String> {
    let server = std::env::var("GITHUB_SERVER_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "https://github.com".to_owned());
    let run_id = std::env::var("GITHUB_RUN_ID")
        .ok()
        .filter(|s| !s.is_empty())?;
    let repo = std::env::var("GITHUB_REPOSITORY")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| repo.to_owned());
    Some(format!(
        "{}/{repo}/actions/runs/{run_id}",
        server.trim_end_matches('/')
    ))
}

/// Starts (`finish` is `None`) or finishes a deployment with the given state.
fn deployment(
    args: DeploymentArgs,
    finish: Option<(FinalState, Option<u64>)>,
    ctx: &Context,
) -> anyhow::Result<Status> {
    let policy = ctx.policy()?;
    let env = policy.environment(&args.environment);
    let environment = env.map_or(args.environment.clone(), |(name, _)| name.to_owned());
    let environment_url = args
        .url
        .clone()
        .or_else(|| env.and_then(|(_, e)| e.url.clone()));
    let production =
        env.is_some_and(|(_, e)| Policy::requires_approval(e)) || environment.contains("prod");
    let config = config(&args.repo)?;
    let log_url = log_url(&args.repo.repo);
    let result = block_on(async {
        let client = GithubClient::new(&config)?;
        let Some((final_state, deployment_id)) = finish else {
            let deployment = client
                .create_deployment(&NewDeployment {
                    git_ref: args.git_ref.clone(),
                    environment: environment.clone(),
                    description: format!(
                        "gitops deploy of {} to {environment}",
                        short(&args.git_ref)
                    ),
                    production_environment: production,
                    auto_merge: false,
                    required_contexts: Vec::new(),
                })
                .await?;
            client
                .create_deployment_status(
                    deployment.id,
                    &StatusUpdate {
                        state: DeploymentState::InProgress,
                        environment_url: environment_url.clone(),
                        log_url: log_url.clone(),
                        description: "deploying".to_owned(),
                        auto_inactive: false,
                    },
                )
                .await?;
            return Ok::<_, GithubError>((deployment.id, "in_progress", Vec::new()));
        };
        let id = match deployment_id {
            Some(id) => id,
            None => client
                .list_deployments(&environment, Some(&args.git_ref))
                .await?
                .first()
                .map(|d| d.id)
                .ok_or_else(|| GithubError::NotFound {
                    action: format!("find the deployment of {} to {environment}", args.git_ref),
                    message: "no deployment; run `gitops github deployment start` first".to_owned(),
                })?,
        };
        let state = match final_state {
            FinalState::Success => DeploymentState::Success,
            FinalState::Failure => DeploymentState::Failure,
        };
        client
            .create_deployment_status(
                id,
                &StatusUpdate {
                    state,
                    environment_url: environment_url.clone(),
                    log_url: log_url.clone(),
                    description: format!("deploy {}", state.as_str()),
                    auto_inactive: false,
                },
            )
            .await?;
        // Only a successful deployment supersedes the previous ones.
        let inactive = if state == DeploymentState::Success {
            client
                .inactivate_older_deployments(&environment, id)
                .await?
        } else {
            Vec::new()
        };
        Ok((id, state.as_str(), inactive))
    })?;
    let (id, state, inactive) = result.map_err(api_error)?;
    let inactive_text: Vec<String> = inactive.iter().map(u64::to_string).collect();
    if ctx.json() {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "deployment_id": id,
                "environment": environment,
                "state": state,
                "environment_url": environment_url,
                "log_url": log_url,
                "inactivated": inactive,
            }))?
        );
    } else {
        println!(
            "deployment {id} of {} to {environment}: {state}{}",
            short(&args.git_ref),
            if inactive.is_empty() {
                String::new()
            } else {
                format!(" (marked inactive: {})", inactive_text.join(", "))
            }
        );
    }
    gha::set_outputs([("deployment-id", id.to_string().as_str()), ("state", state)])?;
    Ok(Status::Success)
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

fn check(args: &CheckArgs, ctx: &Context) -> anyhow::Result<Status> {
    let policy = ctx.policy()?;
    let config = config(&args.repo)?;
    let settings = block_on(async {
        let client = GithubClient::new(&config)?;
        client.read_settings(policy).await
    })?
    .map_err(api_error)?;
    let diffs = compare_settings(policy, &settings);
    if ctx.json() {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "repository": args.repo.repo,
                "matches": diffs.is_empty(),
                "differences": diffs,
            }))?
        );
    } else if diffs.is_empty() {
        println!(
            "{}: environments and branch protection match the policy",
            args.repo.repo
        );
    } else {
        println!(
            "{}: {} settings differ from the policy:",
            args.repo.repo,
            diffs.len()
        );
        for d in &diffs {
            println!(
                "  {}: {}: expected {}, found {}",
                d.scope, d.setting, d.expected, d.actual
            );
        }
        println!("run `gitops github apply` with an admin token to fix them");
    }
    if !diffs.is_empty() {
        let mut md = String::from(
            "### GitHub settings differ from the policy\n\n| scope | setting | expected | actual |\n|---|---|---|---|\n",
        );
        for d in &diffs {
            md.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                d.scope, d.setting, d.expected, d.actual
            ));
        }
        gha::append_summary(&md)?;
    }
    gha::set_output("matches", if diffs.is_empty() { "true" } else { "false" })?;
    Ok(if diffs.is_empty() {
        Status::Success
    } else {
        Status::Denied
    })
}

fn apply(args: &ApplyArgs, ctx: &Context) -> anyhow::Result<Status> {
    let policy = ctx.policy()?;
    let config = config(&args.repo)?;
    let dry_run = args.dry_run;
    let (diffs, changed, remaining) = block_on(async {
        let client = GithubClient::new(&config)?;
        let before = client.read_settings(policy).await?;
        let diffs = compare_settings(policy, &before);
        if dry_run || diffs.is_empty() {
            return Ok::<_, GithubError>((diffs, Vec::new(), Vec::new()));
        }
        let mut reviewers = Vec::new();
        for spec in &args.reviewer {
            reviewers.push(client.resolve_reviewer(spec).await?);
        }
        let changed = client.apply_settings(policy, &before, &reviewers).await?;
        let after = client.read_settings(policy).await?;
        Ok((diffs, changed, compare_settings(policy, &after)))
    })?
    .map_err(api_error)?;
    if ctx.json() {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "repository": args.repo.repo,
                "dry_run": dry_run,
                "differences": diffs,
                "changed": changed,
                "remaining": remaining,
            }))?
        );
    } else {
        if diffs.is_empty() {
            println!("{}: already matches the policy", args.repo.repo);
        }
        for d in &diffs {
            println!(
                "{} {}: {}: {} -> {}",
                if dry_run { "would change" } else { "differed" },
                d.scope,
                d.setting,
                d.actual,
                d.expected
            );
        }
        for c in &changed {
            println!("applied {c}");
        }
        for d in &remaining {
            println!(
                "still differs {}: {}: expected {}, found {}{}",
                d.scope,
                d.setting,
                d.expected,
                d.actual,
                if d.setting == "required reviewers" {
                    " (name reviewers with --reviewer user:LOGIN or team:SLUG)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(if remaining.is_empty() {
        Status::Success
    } else {
        Status::Denied
    })
}

fn pr(args: &PrArgs, ctx: &Context) -> anyhow::Result<Status> {
    let policy = ctx.policy()?;
    let base = args
        .base
        .clone()
        .unwrap_or_else(|| policy.gitops.branch.clone());
    let config = config(&args.repo)?;
    let outcome = block_on(async {
        let client = GithubClient::new(&config)?;
        client
            .open_or_update_pull_request(&args.branch, &base, &args.title, &args.body)
            .await
    })?
    .map_err(api_error)?;
    let pr = &outcome.pull_request;
    if ctx.json() {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        println!(
            "pull request #{} {}: {} ({} -> {base})",
            pr.number, outcome.action, pr.html_url, args.branch
        );
    }
    gha::set_outputs([
        ("pull-request-number", pr.number.to_string().as_str()),
        ("pull-request-url", pr.html_url.as_str()),
    ])?;
    Ok(Status::Success)
}
