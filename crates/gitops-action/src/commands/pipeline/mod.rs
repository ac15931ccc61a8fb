//! `gitops pipeline`: the whole multi-stage flow, locally.

mod build;

use crate::context::Context;
use crate::exit::Status;

/// Arguments of `gitops pipeline`.
#[derive(Debug, clap::Args)]
pub struct PipelineArgs {}

/// Runs `gitops pipeline`.
pub fn run(_args: PipelineArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("`gitops pipeline` is not implemented yet")
}
