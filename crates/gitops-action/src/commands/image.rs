//! `gitops image ...`.

use crate::context::Context;
use crate::exit::Status;

/// `gitops image` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {}

/// Runs `gitops image ...`.
pub fn run(command: ImageCommand, _ctx: &Context) -> anyhow::Result<Status> {
    match command {}
}
