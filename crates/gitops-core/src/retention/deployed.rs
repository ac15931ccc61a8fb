//! Which images the GitOps overlays deploy: the `images:` entries of each environment's
//! kustomization that name the repository being cleaned. Pure: takes the files' text.

use serde::Serialize;

use crate::kustomize::{KustomizeError, read_images};
use crate::policy::Policy;

/// An overlay's reference to the repository being cleaned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverlayImage {
    /// The environment whose overlay it is.
    pub environment: String,
    /// `newTag`, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// `digest`, when set (wins over the tag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

fn last_component(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// The `images:` entries of each `(environment, kustomization text)` that refer to
/// `repository`: `newName` (or `name`) equal to it, a policy image whose repository it is, or
/// the same last path component. Matching loosely only ever keeps more.
pub fn overlay_images(
    policy: &Policy,
    repository: &str,
    overlays: &[(String, String)],
) -> Result<Vec<OverlayImage>, KustomizeError> {
    let wanted_last = last_component(repository);
    let policy_names: Vec<&str> = policy
        .images
        .iter()
        .filter(|i| policy.image_repository(i) == repository)
        .map(|i| i.name.as_str())
        .collect();
    let mut out = Vec::new();
    for (environment, text) in overlays {
        for entry in read_images(text)? {
            let effective = entry.new_name.as_deref().unwrap_or(&entry.name);
            let matches = effective == repository
                || policy_names.contains(&entry.name.as_str())
                || last_component(effective) == wanted_last;
            if matches && (entry.new_tag.is_some() || entry.digest.is_some()) {
                out.push(OverlayImage {
                    environment: environment.clone(),
                    tag: entry.new_tag.clone(),
                    digest: entry.digest.clone(),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_repository_in_each_overlay() {
        let policy = Policy::embedded_default();
        let overlays = vec![
            (
                "production".to_owned(),
                "images:\n- name: backend\n  newName: registry.digitalocean.com/ai-incident-assistant/backend\n  newTag: prod-abc1234-20251201-000000\n- name: frontend\n  newTag: prod-latest\n".to_owned(),
            ),
            (
                "staging".to_owned(),
                "images:\n- name: x\n  newName: other.io/backend\n  digest: sha256:0000000000000000000000000000000000000000000000000000000000000001\n".to_owned(),
            ),
        ];
        let found = overlay_images(
            &policy,
            "registry.digitalocean.com/ai-incident-assistant/backend",
            &overlays,
        )
        .unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[0].tag.as_deref(),
            Some("prod-abc1234-20251201-000000")
        );
        assert_eq!(found[1].environment, "staging");
        assert!(found[1].digest.is_some());
    }
}
