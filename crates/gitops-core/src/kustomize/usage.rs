//! Which images a kustomize build uses, from file contents (the caller reads the files).
//!
//! kustomize silently ignores an `images:` entry that matches no container, so a typo in an
//! image name deploys nothing. These helpers let the caller walk `resources:` (through
//! bases) and warn.

use serde::Deserialize;
use serde_norway::Value;

use super::{ImageEntry, KustomizeError, model, split_image};

/// The local entries of `resources:` (and the legacy `bases:` and `components:`) of a
/// kustomization: files or directories relative to it. Remote ones (URLs, `git@`,
/// `github.com/...`) are left out.
pub fn resource_paths(kustomization: &str) -> Result<Vec<String>, KustomizeError> {
    let doc = model::parse_document(kustomization)?;
    let mut out = Vec::new();
    for key in ["resources", "bases", "components"] {
        let Some(Value::Sequence(items)) = doc.get(key) else {
            continue;
        };
        out.extend(
            items
                .iter()
                .filter_map(Value::as_str)
                .filter(|p| !is_remote(p))
                .map(str::to_owned),
        );
    }
    Ok(out)
}

/// The patches of a kustomization that may set container images: local patch files
/// (`patches[].path`, `patchesStrategicMerge`) and inline patch texts (`patches[].patch`).
pub fn patch_sources(kustomization: &str) -> Result<PatchSources, KustomizeError> {
    let doc = model::parse_document(kustomization)?;
    let mut sources = PatchSources::default();
    if let Some(Value::Sequence(items)) = doc.get("patches") {
        for item in items {
            if let Some(path) = item.get("path").and_then(Value::as_str) {
                sources.files.push(path.to_owned());
            }
            if let Some(patch) = item.get("patch").and_then(Value::as_str) {
                sources.inline.push(patch.to_owned());
            }
        }
    }
    if let Some(Value::Sequence(items)) = doc.get("patchesStrategicMerge") {
        for item in items.iter().filter_map(Value::as_str) {
            // Entries are file paths or inline patches (which span several lines).
            if item.contains('\n') {
                sources.inline.push(item.to_owned());
            } else if !is_remote(item) {
                sources.files.push(item.to_owned());
            }
        }
    }
    Ok(sources)
}

/// Patches of a kustomization, see [`patch_sources`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchSources {
    /// Local patch files, relative to the kustomization.
    pub files: Vec<String>,
    /// Inline patch texts.
    pub inline: Vec<String>,
}

fn is_remote(path: &str) -> bool {
    path.contains("://")
        || path.starts_with("git@")
        || path.starts_with("github.com/")
        || path.starts_with("gitlab.com/")
        || path.starts_with("bitbucket.org/")
        || path.contains("?ref=")
}

/// Every `image:` string in a (multi-document) manifest file.
pub fn container_images(manifest: &str) -> Result<Vec<String>, KustomizeError> {
    let mut out = Vec::new();
    for document in serde_norway::Deserializer::from_str(manifest) {
        let value = Value::deserialize(document).map_err(model::malformed)?;
        collect_images(&value, &mut out);
    }
    Ok(out)
}

fn collect_images(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Mapping(mapping) => {
            for (key, child) in mapping {
                match (key.as_str(), child) {
                    (Some("image"), Value::String(image)) => out.push(image.clone()),
                    _ => collect_images(child, out),
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|item| collect_images(item, out)),
        Value::Tagged(tagged) => collect_images(&tagged.value, out),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

/// Whether an `images:` entry `name` applies to a container `image:` reference (kustomize
/// compares the reference without tag and digest, full registry path included).
pub fn image_matches(name: &str, reference: &str) -> bool {
    split_image(reference).0 == name
}

/// What a kustomization's `images:` entries turn a container reference into. Entries apply
/// in order, each to the result of the previous ones, as kustomize's image transformers do.
pub fn transform_reference(entries: &[ImageEntry], reference: &str) -> String {
    entries.iter().fold(reference.to_owned(), |current, entry| {
        if image_matches(&entry.name, &current) {
            let (_, tag, _) = split_image(&current);
            entry.render(tag)
        } else {
            current
        }
    })
}
