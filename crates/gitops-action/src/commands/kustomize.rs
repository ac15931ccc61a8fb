//! `gitops kustomize ...`.

use crate::context::Context;
use crate::exit::Status;

/// `gitops kustomize` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum KustomizeCommand {}

/// Runs `gitops kustomize ...`.
pub fn run(command: KustomizeCommand, _ctx: &Context) -> anyhow::Result<Status> {
    match command {}
}
