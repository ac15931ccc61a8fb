//! `gitops backport`.

use crate::context::Context;
use crate::exit::Status;

/// Arguments of `gitops backport`.
#[derive(Debug, clap::Args)]
pub struct BackportArgs {}

/// Runs `gitops backport`.
pub fn run(_args: BackportArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("`gitops backport` is not implemented yet")
}
