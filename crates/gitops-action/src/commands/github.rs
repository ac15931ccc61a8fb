//! `gitops github ...`.

use crate::context::Context;
use crate::exit::Status;

/// `gitops github` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum GithubCommand {}

/// Runs `gitops github ...`.
pub fn run(command: GithubCommand, _ctx: &Context) -> anyhow::Result<Status> {
    match command {}
}
