//! `gitops backport`: cherry-pick a hotfix onto other branches (hotfix back-propagation).
//! Each branch either gets the pick as one pushed commit or is left untouched.

use gitops_core::gitops_repo::{
    Author, GitCredentials, GitopsRepo, GitopsRepoError, Location, RetryPolicy, WriteRequest,
};
use serde_json::json;

use crate::commands::deploy;
use crate::context::Context;
use crate::exit::{self, Status};

/// Arguments of `gitops backport`.
#[derive(Debug, clap::Args)]
pub struct BackportArgs {
    /// The hotfix commit (sha or revision) to cherry-pick.
    #[arg(long, value_name = "SHA")]
    pub commit: String,
    /// Comma-separated targets: environment names (their `branch`) or branch names.
    #[arg(
        long,
        value_name = "ENV|BRANCH,...",
        value_delimiter = ',',
        required = true
    )]
    pub to: Vec<String>,
    /// Repository holding the branches: a URL or a local path (default: `.`).
    #[arg(long, value_name = "URL|PATH", default_value = ".")]
    pub repo: String,
    /// In a local checkout, the remote to push to (when it is a network URL).
    #[arg(long, value_name = "NAME", default_value = "origin")]
    pub remote: String,
}

/// Runs `gitops backport`.
pub fn run(args: BackportArgs, ctx: &Context) -> anyhow::Result<Status> {
    let policy = ctx.policy()?;
    let location = Location::parse(&args.repo);
    let mut repo = GitopsRepo::open(&location, &args.remote, GitCredentials::from_env())
        .map_err(deploy::repo_error)?;
    repo.resolve_commit(&args.commit)
        .map_err(deploy::repo_error)?;
    let mut results = Vec::new();
    let mut conflicts = 0usize;
    for target in args.to.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        let branch = match policy.environments.get(target) {
            Some(env) => env.branch.clone(),
            None => target.to_owned(),
        };
        let request = WriteRequest {
            branch: branch.clone(),
            pull_request_prefix: None,
            author: Author {
                name: policy.gitops.author_name.clone(),
                email: policy.gitops.author_email.clone(),
            },
            time: ctx.now,
            retry: RetryPolicy {
                attempts: policy.gitops.push_attempts.max(1),
                ..RetryPolicy::default()
            },
        };
        match repo.cherry_pick(&args.commit, &request) {
            Ok(outcome) => {
                let status = if outcome.commit.is_some() {
                    "picked"
                } else {
                    "already-applied"
                };
                if !ctx.json() {
                    match &outcome.commit {
                        Some(commit) => println!("{branch}: picked as {commit}"),
                        None => println!("{branch}: already contains the change; nothing to do"),
                    }
                }
                results.push(json!({"target": target, "branch": branch, "status": status, "commit": outcome.commit}));
            }
            Err(err @ GitopsRepoError::Conflict { .. }) => {
                conflicts += 1;
                let paths = match &err {
                    GitopsRepoError::Conflict { paths, .. } => paths.clone(),
                    _ => Vec::new(),
                };
                eprintln!("{branch}: {err}");
                results.push(json!({"target": target, "branch": branch, "status": "conflict", "paths": paths, "error": err.to_string()}));
            }
            Err(err) => return Err(deploy::repo_error(err)),
        }
    }
    if ctx.json() {
        let doc = json!({"commit": args.commit, "repository": repo.location(), "results": results});
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    if conflicts > 0 {
        return Err(exit::Denied(anyhow::anyhow!(
            "{conflicts} branch(es) conflict with {}; they were left untouched, cherry-pick by hand",
            args.commit
        ))
        .into());
    }
    Ok(Status::Success)
}
