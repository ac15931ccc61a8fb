//! `gitops promote`.

use crate::context::Context;
use crate::exit::Status;

/// Arguments of `gitops promote`.
#[derive(Debug, clap::Args)]
pub struct PromoteArgs {}

/// Runs `gitops promote`.
pub fn run(_args: PromoteArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("`gitops promote` is not implemented yet")
}
