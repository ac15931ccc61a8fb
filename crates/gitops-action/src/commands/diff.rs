//! `gitops diff`.

use crate::context::Context;
use crate::exit::Status;

/// Arguments of `gitops diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {}

/// Runs `gitops diff`.
pub fn run(_args: DiffArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("`gitops diff` is not implemented yet")
}
