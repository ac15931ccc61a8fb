//! Command-line definitions (clap lives only in the binary).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands;

/// Multi-stage GitOps CI/CD: plan, tag, push, promote, deploy, gate, clean up and measure.
#[derive(Debug, Parser)]
#[command(name = "gitops", version, about, long_about = None, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 success, 1 a gate or policy said no, 2 usage or configuration error, 3 an external system failed after retries."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Output format: human-readable text, or JSON on stdout (logs stay on stderr).
    #[arg(long, global = true, value_enum, default_value_t = Format::Human, env = "GITOPS_FORMAT")]
    pub format: Format,
    /// Policy file. Default: ./gitops.yaml, else ./.github/gitops.yaml, else the embedded default.
    #[arg(long, global = true, value_name = "PATH", env = "GITOPS_POLICY")]
    pub policy: Option<PathBuf>,
    /// More detail on stderr.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Text for a person.
    Human,
    /// One JSON document on stdout.
    Json,
}

/// The pipeline stages.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decide which stages run for an event (push, pull request, tag, ...).
    Plan(commands::plan::PlanArgs),
    /// Generate image tags for an environment, or parse one back.
    Tag(commands::tag::TagArgs),
    /// Check, explain, test or describe the policy file.
    #[command(subcommand)]
    Policy(commands::policy::PolicyCommand),
}
