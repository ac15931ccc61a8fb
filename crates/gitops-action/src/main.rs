//! The `gitops` command: one subcommand per stage of a multi-stage GitOps pipeline.
//!
//! Exit codes: 0 success; 1 a gate or policy said no; 2 usage or configuration error;
//! 3 an external system (registry, git remote, API) failed after retries.

mod cli;
mod commands;
mod context;
mod exit;
mod github_actions;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let ctx = match context::Context::from_cli(&cli.global) {
        Ok(ctx) => ctx,
        Err(err) => return exit::report(&err),
    };
    match commands::run(cli.command, &ctx) {
        Ok(status) => status.into(),
        Err(err) => exit::report(&err),
    }
}
