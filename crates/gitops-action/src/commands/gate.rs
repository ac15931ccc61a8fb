//! `gitops gate`.

use crate::context::Context;
use crate::exit::Status;

/// Arguments of `gitops gate`.
#[derive(Debug, clap::Args)]
pub struct GateArgs {}

/// Runs `gitops gate`.
pub fn run(_args: GateArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("`gitops gate` is not implemented yet")
}
