//! Shared test helpers (real components started by the tests).

/// The core crate's git helpers (temporary repositories, bare remotes, `git daemon`).
#[path = "../../../../gitops-core/tests/all/support/git.rs"]
pub mod git;
/// The core crate's registry helpers (`docker-registry` on loopback, synthetic OCI images).
#[path = "../../../../gitops-core/tests/all/support/registry.rs"]
pub mod registry;
