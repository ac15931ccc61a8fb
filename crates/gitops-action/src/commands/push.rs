//! `gitops push`.

use crate::context::Context;
use crate::exit::Status;

/// Arguments of `gitops push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {}

/// Runs `gitops push`.
pub fn run(_args: PushArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("`gitops push` is not implemented yet")
}
