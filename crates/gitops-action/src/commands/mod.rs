//! One module per subcommand.

pub mod plan;
pub mod policy;
pub mod tag;

use crate::cli::Command;
use crate::context::Context;
use crate::exit::Status;

/// Runs a parsed subcommand.
pub fn run(command: Command, ctx: &Context) -> anyhow::Result<Status> {
    match command {
        Command::Plan(args) => plan::run(args, ctx),
        Command::Tag(args) => tag::run(args, ctx),
        Command::Policy(cmd) => policy::run(cmd, ctx),
    }
}
