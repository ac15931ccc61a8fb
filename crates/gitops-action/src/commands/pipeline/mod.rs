//! `gitops pipeline`: the whole multi-stage flow, locally.
//!
//! Every stage runs the same `gitops` subcommand a CI job would run (the command line is printed
//! before it runs), against an OCI image-layout folder standing in for the registry and a local
//! bare repository standing in for the GitOps remote. Nothing here re-implements a stage: the
//! pipeline only wires their inputs and outputs together, so what it shows is what CI does.

mod build;
mod stages;

use std::path::PathBuf;

use crate::context::Context;
use crate::exit::Status;

/// Arguments of `gitops pipeline`.
#[derive(Debug, clap::Args)]
pub struct PipelineArgs {
    /// Working folder to create (a previous pipeline folder there is replaced; anything else
    /// is refused).
    #[arg(long, value_name = "DIR", default_value = ".gitops-pipeline")]
    pub workdir: PathBuf,
    /// Approve the production deployment (GitHub's environment approval, locally). Without it
    /// the run stops at the approval; `gitops pipeline --approve` then resumes it.
    #[arg(long)]
    pub approve: bool,
    /// Push to this registry namespace (e.g. `localhost:5000/ai-incident-assistant`) instead of
    /// an OCI image-layout folder.
    #[arg(long, value_name = "REGISTRY")]
    pub registry: Option<String>,
    /// Registries reached over plain HTTP (loopback hosts always are).
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// Write deploy commits to this GitOps remote (URL or path) instead of a local bare
    /// repository created in the working folder. Its `main` branch must hold the example's
    /// `infra/k8s` overlays.
    #[arg(long, value_name = "URL|PATH")]
    pub gitops_repo: Option<String>,
    /// When the simulated day starts (RFC 3339); default: three hours ago, so that it ends now.
    /// Fixes every tag and commit time for reproducible runs.
    #[arg(long, value_name = "RFC3339")]
    pub time: Option<String>,
}

/// Runs `gitops pipeline`.
pub fn run(args: PipelineArgs, ctx: &Context) -> anyhow::Result<Status> {
    stages::run(&args, ctx)
}
