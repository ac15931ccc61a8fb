//! `gitops diff`: what one environment runs that another does not (images and source
//! commits), from the deploy ledger.

use gitops_core::ledger;

use crate::commands::deploy::{self, RepoArgs};
use crate::context::Context;
use crate::exit::Status;

/// Arguments of `gitops diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The environment that is ahead (e.g. staging).
    #[arg(long, value_name = "ENV")]
    pub from: String,
    /// The environment compared against (e.g. production).
    #[arg(long, value_name = "ENV")]
    pub to: String,
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// Runs `gitops diff`.
pub fn run(args: DiffArgs, ctx: &Context) -> anyhow::Result<Status> {
    let policy = ctx.policy()?;
    let (from_name, from_env) = deploy::environment(policy, &args.from)?;
    let (to_name, to_env) = deploy::environment(policy, &args.to)?;
    let from_branch = deploy::branch(policy, from_env, &args.repo);
    let to_branch = deploy::branch(policy, to_env, &args.repo);
    let mut repo = deploy::open_repo(policy, &args.repo)?;
    let mut entries = deploy::read_ledger(&mut repo, &from_branch)?;
    if to_branch != from_branch {
        let others = deploy::read_ledger(&mut repo, &to_branch)?;
        for entry in others {
            if !entries.iter().any(|e| e.commit == entry.commit) {
                entries.push(entry);
            }
        }
        entries.sort_by_key(|entry| entry.time);
    }
    let diff = ledger::diff(&entries, from_name, to_name);
    if ctx.json() {
        println!("{}", serde_json::to_string_pretty(&diff)?);
        return Ok(Status::Success);
    }
    if diff.is_empty() {
        println!("{from_name} and {to_name} run the same builds; nothing to promote");
        return Ok(Status::Success);
    }
    if !diff.images.is_empty() {
        println!("images {from_name} runs that {to_name} does not:");
        for image in &diff.images {
            let show = |side: &Option<ledger::LedgerImage>| {
                side.as_ref()
                    .map(ledger::LedgerImage::pinned)
                    .unwrap_or_else(|| "(never deployed)".into())
            };
            println!("  {}", image.name);
            println!("    {from_name:<12} {}", show(&image.from));
            println!("    {to_name:<12} {}", show(&image.to));
        }
    }
    if !diff.source_commits.is_empty() {
        println!("source commits deployed to {from_name} and not to {to_name}:");
        for commit in &diff.source_commits {
            println!("  {commit}");
        }
    }
    Ok(Status::Success)
}
