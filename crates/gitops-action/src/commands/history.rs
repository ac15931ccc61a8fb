//! `gitops history`.

use crate::context::Context;
use crate::exit::Status;

/// Arguments of `gitops history`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {}

/// Runs `gitops history`.
pub fn run(_args: HistoryArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("`gitops history` is not implemented yet")
}
