//! `gitops verify`.

use crate::context::Context;
use crate::exit::Status;

/// Arguments of `gitops verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {}

/// Runs `gitops verify`.
pub fn run(_args: VerifyArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("`gitops verify` is not implemented yet")
}
