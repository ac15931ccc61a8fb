//! The single integration-test binary of gitops-action (one binary keeps link times down).
//! Each module covers one concept; add `mod <name>;` lines below.
mod actions;
mod cli_deploy;
mod cli_gate;
mod cli_github;
mod cli_init;
mod cli_kustomize;
mod cli_metrics;
mod cli_pipeline;
mod cli_plan;
mod cli_policy;
mod cli_registry;
mod cli_retention;
mod cli_tag;
mod cli_verify;
mod docs_policy;
mod metrics_html;
mod support;
