//! `gitops tag`.

use crate::context::Context;
use crate::exit::Status;

/// Arguments of `gitops tag`.
#[derive(Debug, clap::Args)]
pub struct TagArgs {}

/// Runs `gitops tag`.
pub fn run(_args: TagArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("not implemented yet")
}
