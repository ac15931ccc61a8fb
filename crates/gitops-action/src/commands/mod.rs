//! One module per subcommand.

pub mod backport;
pub mod deploy;
pub mod diff;
pub mod gate;
pub mod github;
pub mod history;
pub mod image;
pub mod init;
pub mod kustomize;
pub mod metrics;
pub mod pipeline;
pub mod plan;
pub mod policy;
pub mod promote;
pub mod push;
pub mod retention;
pub mod rollback;
pub mod tag;
pub mod verify;

use crate::cli::Command;
use crate::context::Context;
use crate::exit::Status;

/// Runs a parsed subcommand.
pub fn run(command: Command, ctx: &Context) -> anyhow::Result<Status> {
    match command {
        Command::Plan(args) => plan::run(args, ctx),
        Command::Tag(args) => tag::run(args, ctx),
        Command::Policy(cmd) => policy::run(cmd, ctx),
        Command::Push(args) => push::run(args, ctx),
        Command::Promote(args) => promote::run(args, ctx),
        Command::Image(cmd) => image::run(cmd, ctx),
        Command::Kustomize(cmd) => kustomize::run(cmd, ctx),
        Command::Deploy(args) => deploy::run(args, ctx),
        Command::Rollback(args) => rollback::run(args, ctx),
        Command::History(args) => history::run(args, ctx),
        Command::Diff(args) => diff::run(args, ctx),
        Command::Backport(args) => backport::run(args, ctx),
        Command::Retention(cmd) => retention::run(cmd, ctx),
        Command::Gate(args) => gate::run(args, ctx),
        Command::Github(cmd) => github::run(cmd, ctx),
        Command::Verify(args) => verify::run(args, ctx),
        Command::Pipeline(args) => pipeline::run(args, ctx),
        Command::Init(args) => init::run(args, ctx),
        Command::Metrics(args) => metrics::run(args, ctx),
    }
}
