//! The pipeline policy (`gitops.yaml`): data model, loading, validation and JSON Schema.

mod model;

pub use model::*;

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
}

impl Policy {
    /// Parses policy text; `origin` names it in errors.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Self, PolicyError> {
        serde_norway::from_str(text).map_err(|source| PolicyError::Parse {
            origin: origin.to_owned(),
            message: source.to_string(),
            source,
        })
    }

    /// The embedded default policy.
    pub fn embedded_default() -> Self {
        #[allow(clippy::expect_used)]
        Self::from_yaml_str(DEFAULT_POLICY_YAML, "<embedded default>")
            .expect("the embedded default policy is valid (checked by tests)")
    }
}
