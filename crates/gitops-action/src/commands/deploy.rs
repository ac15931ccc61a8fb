//! `gitops deploy`.

use crate::context::Context;
use crate::exit::Status;

/// Arguments of `gitops deploy`.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {}

/// Runs `gitops deploy`.
pub fn run(_args: DeployArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("`gitops deploy` is not implemented yet")
}
