//! `gitops rollback`.

use crate::context::Context;
use crate::exit::Status;

/// Arguments of `gitops rollback`.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {}

/// Runs `gitops rollback`.
pub fn run(_args: RollbackArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("`gitops rollback` is not implemented yet")
}
