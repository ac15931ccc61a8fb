//! Shared test helpers (real components started by the tests).

pub mod git;
/// The core crate's registry helpers (`docker-registry` on loopback, synthetic OCI images).
#[path = "../../../../gitops-core/tests/all/support/registry.rs"]
pub mod registry;
