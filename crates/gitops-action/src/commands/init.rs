//! `gitops init`.

use crate::context::Context;
use crate::exit::Status;

/// Arguments of `gitops init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {}

/// Runs `gitops init`.
pub fn run(_args: InitArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("`gitops init` is not implemented yet")
}
