//! Registry retention: which tags and manifests may be deleted, and why.
//!
//! The planner ([`plan`]) is a pure function of an [`Inventory`] (every tag with its digest,
//! the manifests' relations), the policy, `now` and the digests the GitOps overlays deploy. It
//! returns a [`RetentionPlan`] listing every tag with keep or delete and a reason. The
//! executor (feature `registry` or `github`) carries a plan out against a backend: it
//! re-resolves each tag right before deleting and fails closed on incomplete data.
//!
//! Safety rules (see the reference notes on registries): a digest is deleted only when every
//! tag on it is due and nothing kept refers to it; the closure of kept digests (index
//! children, referrers, `sha256-<hex>.sig|.att|.sbom` tags, deployed digests) is kept; tags
//! that do not parse under the policy are kept.

mod deployed;
mod planner;
mod report;

pub use deployed::*;

pub use planner::*;
pub use report::*;

#[cfg(test)]
mod tests;

#[cfg(any(feature = "registry", feature = "github"))]
mod executor;
#[cfg(any(feature = "registry", feature = "github"))]
pub use executor::*;

#[cfg(feature = "registry")]
pub mod digitalocean;
#[cfg(all(feature = "github", feature = "registry"))]
pub mod ghcr;
#[cfg(feature = "registry")]
pub mod oci;
