//! `gitops history`: an environment's deploy ledger.

use gitops_core::ledger;

use crate::commands::deploy::{self, RepoArgs};
use crate::context::Context;
use crate::exit::Status;

/// Arguments of `gitops history`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Environment (its name or tag prefix).
    #[arg(long, value_name = "ENV")]
    pub env: String,
    /// Show at most this many entries (newest first).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// Runs `gitops history`.
pub fn run(args: HistoryArgs, ctx: &Context) -> anyhow::Result<Status> {
    let policy = ctx.policy()?;
    let (env_name, env) = deploy::environment(policy, &args.env)?;
    let branch = deploy::branch(policy, env, &args.repo);
    let mut repo = deploy::open_repo(policy, &args.repo)?;
    let entries = deploy::read_ledger(&mut repo, &branch)?;
    let mut history: Vec<&ledger::LedgerEntry> = ledger::history(&entries, env_name);
    history.reverse();
    history.truncate(args.limit);
    if ctx.json() {
        let doc = serde_json::json!({
            "environment": env_name,
            "repository": repo.location(),
            "branch": branch,
            "entries": history,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(Status::Success);
    }
    if history.is_empty() {
        println!(
            "{env_name}: no deploy in the ledger of '{branch}' ({})",
            repo.location()
        );
        return Ok(Status::Success);
    }
    println!(
        "{:<20}  {:<8}  {:<9}  {:<12}  {:<40}  {:<21}  {:<9}  AUTHOR",
        "WHEN (UTC)", "COMMIT", "KIND", "IMAGE", "REFERENCE", "DIGEST", "SOURCE"
    );
    for entry in history {
        for (i, image) in entry.images.iter().enumerate() {
            let first = i == 0;
            let short = |s: &str, n: usize| s.chars().take(n).collect::<String>();
            println!(
                "{:<20}  {:<8}  {:<9}  {:<12}  {:<40}  {:<21}  {:<9}  {}",
                if first {
                    entry.time.format("%Y-%m-%d %H:%M:%S").to_string()
                } else {
                    String::new()
                },
                if first {
                    short(&entry.commit, 8)
                } else {
                    String::new()
                },
                if first {
                    entry.kind.to_string()
                } else {
                    String::new()
                },
                image.name,
                image.reference,
                image
                    .digest
                    .as_deref()
                    .map(|d| short(d, 19))
                    .unwrap_or_else(|| "-".into()),
                if first {
                    entry
                        .source_commit
                        .as_deref()
                        .map(|s| short(s, 7))
                        .unwrap_or_else(|| "-".into())
                } else {
                    String::new()
                },
                if first { entry.author.as_str() } else { "" },
            );
        }
    }
    Ok(Status::Success)
}
