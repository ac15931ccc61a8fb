//! `gitops policy`.

use crate::context::Context;
use crate::exit::Status;

/// Policy subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Print the JSON Schema of gitops.yaml.
    Schema,
}

/// Runs `gitops policy ...`.
pub fn run(command: PolicyCommand, _ctx: &Context) -> anyhow::Result<Status> {
    match command {
        PolicyCommand::Schema => {
            let schema = schemars::schema_for!(gitops_core::policy::Policy);
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(Status::Success)
        }
    }
}
