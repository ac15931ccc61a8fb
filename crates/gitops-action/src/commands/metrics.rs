//! `gitops metrics`.

use crate::context::Context;
use crate::exit::Status;

/// Arguments of `gitops metrics`.
#[derive(Debug, clap::Args)]
pub struct MetricsArgs {}

/// Runs `gitops metrics`.
pub fn run(_args: MetricsArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("`gitops metrics` is not implemented yet")
}
