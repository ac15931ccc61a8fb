//! The pipeline policy (`gitops.yaml`): data model, loading, validation and JSON Schema.
//!
//! [`Policy::load`] is the entry point for policy text: it parses, rejects unknown keys with
//! a "did you mean" suggestion, and runs the cross-field checks of [`Policy::validate`],
//! reporting every problem with its file:line:column. [`Policy::effective`] fills in every
//! computed default (what `gitops policy explain` prints), and [`json_schema`] describes the
//! file for editors.

pub mod cases;
mod load;
mod model;
mod source_map;
mod validate;

use globset::{Glob, GlobMatcher};

pub use load::{Diagnostic, Diagnostics};
pub use model::*;
pub use source_map::{DisplayPath, PathSeg, Position};
pub use validate::Issue;

/// The embedded default policy text: the documented dev -> staging -> production pipeline.
pub const DEFAULT_POLICY_YAML: &str = include_str!("default.yaml");

/// Why a policy could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The text is not valid YAML or does not match the schema.
    #[error("{origin}: {message}")]
    Parse {
        /// Where the text came from (a path or `<embedded default>`).
        origin: String,
        /// What was wrong.
        message: String,
        /// The parser's error.
        #[source]
        source: serde_norway::Error,
    },
    /// The policy has problems; each diagnostic carries its own line and column.
    #[error("{origin}: {count} problem(s) in the policy:\n{diagnostics}")]
    Invalid {
        /// Where the text came from.
        origin: String,
        /// How many problems.
        count: usize,
        /// Every problem found.
        diagnostics: Diagnostics,
    },
}

impl PolicyError {
    /// The located problems (one for a plain parse error).
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            Self::Invalid { diagnostics, .. } => diagnostics.0.clone(),
            Self::Parse {
                origin,
                message,
                source,
            } => vec![Diagnostic {
                origin: origin.clone(),
                position: source.location().map(|l| Position {
                    line: l.line(),
                    column: l.column(),
                }),
                path: None,
                message: message.clone(),
                help: None,
            }],
        }
    }
}

impl Policy {
    /// Parses policy text without the cross-field checks; `origin` names it in errors.
    /// Prefer [`Policy::load`], which validates and locates every problem.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Self, PolicyError> {
        serde_norway::from_str(text).map_err(|source| PolicyError::Parse {
            origin: origin.to_owned(),
            message: source.to_string(),
            source,
        })
    }

    /// The embedded default policy.
    ///
    /// ```
    /// let policy = gitops_core::policy::Policy::embedded_default();
    /// assert_eq!(policy.environments.len(), 3);
    /// assert_eq!(policy.environments["production"].replicas, 3);
    /// ```
    pub fn embedded_default() -> Self {
        #[allow(clippy::expect_used)]
        Self::from_yaml_str(DEFAULT_POLICY_YAML, "<embedded default>")
            .expect("the embedded default policy is valid (checked by tests)")
    }

    /// The environment whose `branch` matches: an exact name wins over a glob; among globs
    /// the first declared wins. `None` for branches no environment deploys from
    /// (`feature/*`, `hotfix/*` unless mapped): those get pull-request checks only.
    ///
    /// ```
    /// let policy = gitops_core::policy::Policy::embedded_default();
    /// assert_eq!(policy.environment_for_branch("main").map(|(n, _)| n), Some("production"));
    /// assert!(policy.environment_for_branch("feature/login").is_none());
    /// ```
    pub fn environment_for_branch(&self, branch: &str) -> Option<(&str, &Environment)> {
        self.environments
            .iter()
            .find(|(_, env)| env.branch == branch)
            .or_else(|| {
                self.environments.iter().find(|(_, env)| {
                    is_glob(&env.branch)
                        && branch_glob(&env.branch).is_ok_and(|g| g.is_match(branch))
                })
            })
            .map(|(name, env)| (name.as_str(), env))
    }

    /// The policy with every computed default written out: image repositories, contexts and
    /// Dockerfiles, namespaces, promotion sources, GitOps branches, reviewer counts.
    ///
    /// ```
    /// let policy = gitops_core::policy::Policy::embedded_default().effective();
    /// assert_eq!(
    ///     policy.images[0].repository.as_deref(),
    ///     Some("registry.digitalocean.com/ai-incident-assistant/backend")
    /// );
    /// assert_eq!(policy.environments["staging"].promote_from.as_deref(), Some("development"));
    /// ```
    pub fn effective(&self) -> Self {
        let mut out = self.clone();
        for image in &mut out.images {
            image.repository = Some(self.image_repository(image));
            let context = image.context.clone().unwrap_or_else(|| ".".to_owned());
            if image.dockerfile.is_none() {
                image.dockerfile = Some(if context == "." {
                    "Dockerfile".to_owned()
                } else {
                    format!("{}/Dockerfile", context.trim_end_matches('/'))
                });
            }
            image.context = Some(context);
        }
        let names: Vec<String> = self.environments.keys().cloned().collect();
        for name in names {
            let promote_from = self.promotion_source(&name).map(str::to_owned);
            if let Some(env) = out.environments.get_mut(&name) {
                env.namespace.get_or_insert_with(|| name.clone());
                env.promote_from = promote_from;
                env.gitops_branch
                    .get_or_insert_with(|| self.gitops.branch.clone());
                if env.approval.required && env.approval.reviewers == 0 {
                    env.approval.reviewers = 1;
                }
                let protection = &mut env.branch_protection;
                protection
                    .require_pull_request
                    .get_or_insert(protection.required_reviews > 0);
            }
        }
        out
    }
}

/// The JSON Schema of `gitops.yaml` (what `gitops policy schema` prints).
///
/// ```
/// let schema = gitops_core::policy::json_schema();
/// assert_eq!(schema["title"], "Policy");
/// assert!(schema["properties"]["environments"].is_object());
/// ```
pub fn json_schema() -> serde_json::Value {
    schemars::schema_for!(Policy).to_value()
}

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}

/// Compiles a branch pattern; `*` does not cross `/` (`release/*` matches `release/1.2`,
/// not `release/1.2/x`), `**` does.
pub(crate) fn branch_glob(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    Ok(globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()?
        .compile_matcher())
}

/// Compiles a path glob (`images[].paths`, `retention.protected`).
pub fn path_glob(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    Ok(Glob::new(pattern)?.compile_matcher())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        let policy = Policy::load(DEFAULT_POLICY_YAML, "<embedded default>").expect("valid");
        assert_eq!(policy, Policy::embedded_default());
    }

    #[test]
    fn glob_branches() {
        let mut policy = Policy::embedded_default();
        policy.environments["staging"].branch = "release/*".into();
        assert_eq!(
            policy.environment_for_branch("release/1.2").map(|e| e.0),
            Some("staging")
        );
        assert!(policy.environment_for_branch("release/1.2/x").is_none());
    }
}
