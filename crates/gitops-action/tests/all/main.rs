//! The single integration-test binary of gitops-action (one binary keeps link times down).
//! Each module covers one concept; add `mod <name>;` lines below.
mod cli_deploy;
mod cli_registry;
mod docs_policy;
mod support;
