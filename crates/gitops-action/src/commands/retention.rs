//! `gitops retention ...`.

use crate::context::Context;
use crate::exit::Status;

/// `gitops retention` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RetentionCommand {}

/// Runs `gitops retention ...`.
pub fn run(command: RetentionCommand, _ctx: &Context) -> anyhow::Result<Status> {
    match command {}
}
