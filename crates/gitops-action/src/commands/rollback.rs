//! `gitops rollback`: restore an environment's earlier image set from the ledger as a new
//! forward commit (never a history rewrite).

use gitops_core::kustomize::EditOptions;
use gitops_core::ledger::{self, DeployKind, RollbackSelector};

use crate::commands::deploy::{self, DeployInput, RepoArgs};
use crate::context::Context;
use crate::exit::Status;

/// Arguments of `gitops rollback`.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// Environment to roll back (its name or tag prefix).
    #[arg(long, value_name = "ENV")]
    pub env: String,
    /// Restore the image set of this ledger entry: a GitOps commit sha (4+ characters), an
    /// image reference or a tag.
    #[arg(long, value_name = "REF", conflicts_with = "steps")]
    pub to: Option<String>,
    /// Go back this many distinct image sets (default 1: the one before the current).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: Option<u32>,
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Print the plan and the diff; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `gitops rollback`.
pub fn run(args: RollbackArgs, ctx: &Context) -> anyhow::Result<Status> {
    let policy = ctx.policy()?;
    let (env_name, env) = deploy::environment(policy, &args.env)?;
    let branch = deploy::branch(policy, env, &args.repo);
    let mut repo = deploy::open_repo(policy, &args.repo)?;
    let entries = deploy::read_ledger(&mut repo, &branch)?;
    let selector = match &args.to {
        Some(target) => RollbackSelector::To(target.clone()),
        None => RollbackSelector::Steps(args.steps.unwrap_or(1) as usize),
    };
    let plan = ledger::rollback_target(&entries, env_name, &selector)?;
    if ctx.verbose {
        eprintln!(
            "rolling {env_name} back to the image set of {} (undoing {}): {}",
            plan.target_commit,
            plan.rollback_of,
            deploy::image_names(&plan.images)
        );
    }
    let input = DeployInput {
        environment: env_name.to_owned(),
        images: plan.images.clone(),
        kind: DeployKind::Rollback,
        source_commit: plan.source_commit.clone(),
        rollback_of: Some(plan.rollback_of.clone()),
        options: EditOptions::default(),
    };
    let result = deploy::execute(ctx, policy, env, &branch, &mut repo, &input, args.dry_run)?;
    deploy::report(ctx, &input, &result)
}
