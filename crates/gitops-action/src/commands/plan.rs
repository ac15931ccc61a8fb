//! `gitops plan`.

use crate::context::Context;
use crate::exit::Status;

/// Arguments of `gitops plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {}

/// Runs `gitops plan`.
pub fn run(_args: PlanArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("not implemented yet")
}
