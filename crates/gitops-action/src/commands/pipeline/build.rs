//! Builds a small, real, reproducible OCI image from a source folder into an OCI image layout:
//! the local pipeline's "build" stage, standing in for `docker buildx build --output type=oci`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

/// Media types written by the builder.
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The result of a build.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// The OCI layout folder holding the image.
    pub layout: PathBuf,
    /// Digest of the image manifest (`sha256:...`).
    pub digest: String,
    /// Total size of manifest, config and layer blobs in bytes.
    pub size: u64,
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn write_blob(layout: &Path, bytes: &[u8]) -> anyhow::Result<String> {
    let digest = sha256(bytes);
    let hex = digest.trim_start_matches("sha256:");
    let dir = layout.join("blobs").join("sha256");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(hex);
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(digest)
}

/// Every regular file under `dir`, relative and sorted, so layers are byte-for-byte reproducible.
fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current)
            .with_context(|| format!("cannot list {}", current.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                if entry.file_name() != ".git" {
                    stack.push(path);
                }
            } else if entry.file_type()?.is_file() {
                out.push(path.strip_prefix(dir)?.to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Builds an image whose single layer holds `src` under `/app`, labelled with `labels`, into
/// the OCI layout at `layout` (created if needed; `index.json` lists it under `ref_name`).
/// Identical inputs give an identical digest.
pub fn build_image(
    src: &Path,
    layout: &Path,
    ref_name: &str,
    labels: &BTreeMap<String, String>,
    created: DateTime<Utc>,
) -> anyhow::Result<BuiltImage> {
    let mtime = u64::try_from(created.timestamp()).unwrap_or(0);
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    for rel in files_under(src)? {
        let bytes = std::fs::read(src.join(&rel))
            .with_context(|| format!("cannot read {}", rel.display()))?;
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        let name = Path::new("app").join(&rel);
        tar.append_data(&mut header, &name, bytes.as_slice())?;
    }
    let tar_bytes = tar.into_inner()?;
    let diff_id = sha256(&tar_bytes);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar_bytes)?;
    let layer = gz.finish()?;
    let layer_digest = write_blob(layout, &layer)?;

    let config = serde_json::json!({
        "created": created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "architecture": "amd64",
        "os": "linux",
        "config": { "Labels": labels, "WorkingDir": "/app" },
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{ "created": created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "created_by": "gitops pipeline (local build)" }]
    });
    let config_bytes = serde_json::to_vec(&config)?;
    let config_digest = write_blob(layout, &config_bytes)?;

    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": { "mediaType": CONFIG_TYPE, "digest": config_digest, "size": config_bytes.len() },
        "layers": [{ "mediaType": LAYER_TYPE, "digest": layer_digest, "size": layer.len() }],
        "annotations": labels,
    });
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    let digest = write_blob(layout, &manifest_bytes)?;

    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": MANIFEST_TYPE,
            "digest": digest,
            "size": manifest_bytes.len(),
            "annotations": { "org.opencontainers.image.ref.name": ref_name }
        }]
    });
    let tmp = layout.join("index.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&index)?)?;
    std::fs::rename(&tmp, layout.join("index.json"))?;
    Ok(BuiltImage {
        layout: layout.to_path_buf(),
        digest,
        size: (layer.len() + config_bytes.len() + manifest_bytes.len()) as u64,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn builds_are_reproducible_and_valid_layouts() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("a/b")).unwrap();
        std::fs::write(src.path().join("a/b/main.py"), "print('hi')\n").unwrap();
        std::fs::write(src.path().join("README"), "x").unwrap();
        let labels = BTreeMap::from([(
            "org.opencontainers.image.revision".to_owned(),
            "abc".to_owned(),
        )]);
        let time = Utc.with_ymd_and_hms(2025, 12, 3, 12, 0, 0).unwrap();
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let a = build_image(src.path(), one.path(), "build", &labels, time).unwrap();
        let b = build_image(src.path(), two.path(), "build", &labels, time).unwrap();
        assert_eq!(a.digest, b.digest);
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(one.path().join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"][0]["digest"], a.digest.as_str());
        let hex = a.digest.trim_start_matches("sha256:");
        let manifest = std::fs::read(one.path().join("blobs/sha256").join(hex)).unwrap();
        assert_eq!(sha256(&manifest), a.digest);
        let other = build_image(src.path(), two.path(), "build", &BTreeMap::new(), time).unwrap();
        assert_ne!(other.digest, a.digest, "labels are part of the image");
    }
}
