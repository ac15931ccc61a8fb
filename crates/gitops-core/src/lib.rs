//! `gitops-core`: a multi-stage GitOps CI/CD pipeline as a library.
//!
//! The pure core (no network, git, clock or filesystem) covers the policy file, event
//! detection, planning, tag generation, image references, Kustomize edits, the retention
//! planner, gate evaluation and DORA metrics. Thin adapters behind cargo features talk to
//! the world: `registry` (OCI distribution and image-layout backends), `git` (write-back
//! through libgit2) and `github` (deployments, environments, packages). Build with
//! `--no-default-features` for the pure core alone.
//!
//! Time is always an input: functions take `now: DateTime<Utc>`; only the binary reads
//! the clock.

pub mod argocd;
pub mod duration;
pub mod event;
pub mod gates;
#[cfg(feature = "github")]
pub mod github;
#[cfg(feature = "git")]
pub mod gitops_repo;
pub mod image_ref;
pub mod kustomize;
pub mod ledger;
pub mod metrics;
pub mod plan;
pub mod policy;
#[cfg(feature = "registry")]
pub mod registry;
pub mod retention;
pub mod scaffold;
pub mod tag;
