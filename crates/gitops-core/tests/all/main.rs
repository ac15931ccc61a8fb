//! The single integration-test binary of gitops-core (one binary keeps link times down).
//! Each module covers one concept; add `mod <name>;` lines below.

mod event;
mod gates;
mod github;
mod gitops_repo;
mod kustomize;
mod kustomize_args;
mod kustomize_props;
mod kustomize_render;
mod ledger;
mod library_example;
mod metrics;
mod plan;
mod policy;
mod registry;
mod retention;
mod retention_digitalocean;
mod retention_ghcr;
mod scaffold;
mod support;
mod tag;
