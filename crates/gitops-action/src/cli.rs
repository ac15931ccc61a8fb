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
    /// Push a built image (OCI layout folder or tar) with all its tags at once.
    Push(commands::push::PushArgs),
    /// Promote the tested digest to another environment: a registry-side retag, no rebuild.
    Promote(commands::promote::PromoteArgs),
    /// Inspect images: resolve a reference to its digest, list a repository's tags.
    #[command(subcommand)]
    Image(commands::image::ImageCommand),
    /// Edit kustomization files without reformatting them (set-image, set-replicas).
    #[command(subcommand)]
    Kustomize(commands::kustomize::KustomizeCommand),
    /// Write images into an environment's overlay as one GitOps commit and push it.
    Deploy(commands::deploy::DeployArgs),
    /// Restore an environment's previous image set as a new commit with an audit trail.
    Rollback(commands::rollback::RollbackArgs),
    /// Show an environment's deploy ledger: when, which image and digest, which commit, who.
    History(commands::history::HistoryArgs),
    /// Show what one environment has that another lacks (images and source commits).
    Diff(commands::diff::DiffArgs),
    /// Cherry-pick a hotfix onto other branches (hotfix back-propagation).
    Backport(commands::backport::BackportArgs),
    /// Plan or apply image clean-up per environment, with a reason for every tag.
    #[command(subcommand)]
    Retention(commands::retention::RetentionCommand),
    /// Evaluate quality gates from reports (Trivy, coverage, gitleaks, JUnit, SonarQube).
    Gate(commands::gate::GateArgs),
    /// GitHub deployments, environment protection and branch protection as policy.
    #[command(subcommand)]
    Github(commands::github::GithubCommand),
    /// Post-deploy health check (HTTP and optionally Argo CD sync status).
    Verify(commands::verify::VerifyArgs),
    /// Run the whole multi-stage pipeline locally on the bundled example.
    Pipeline(commands::pipeline::PipelineArgs),
    /// Scaffold gitops.yaml, Kustomize overlays, Argo CD/Flux manifests and workflows.
    Init(commands::init::InitArgs),
    /// DORA metrics from the deploy ledger: table, JSON, Prometheus or an HTML report.
    Metrics(commands::metrics::MetricsArgs),
}
