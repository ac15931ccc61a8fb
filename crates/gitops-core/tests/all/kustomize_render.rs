//! Edited overlays render with the real `kubectl kustomize` and the rendered container
//! images are exactly the expected strings: kustomize's own rendering table from the
//! reference, the bundled example's overlays, and a fixture tree in several file styles.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_core::kustomize::{
    EditOptions, find_kustomization, parse_image_args, parse_replica_args, read_images, set_images,
    set_replicas,
};
use serde::Deserialize;
use serde_norway::Value;

const DIGEST: &str = "sha256:24a0c4b4a4c0eb97a1aabb8e29f18e917d05abfe1b7a7c07857230879ce7d3d3";

fn kubectl() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
        .expect(
            "kubectl not found on PATH: install the Debian package `kubectl` (scripts/test does)",
        )
}

/// Rendered documents of `kubectl kustomize DIR`.
fn render(dir: &Path) -> Vec<Value> {
    let output = Command::new(kubectl())
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl runs");
    assert!(
        output.status.success(),
        "kubectl kustomize {} failed:\n{}\n--- kustomization:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr),
        kustomization_text(dir).1
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8 output");
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).expect("rendered YAML parses"))
        .collect()
}

/// `Kind/name/container` -> image, for every container and init container.
fn images(docs: &[Value]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for doc in docs {
        let kind = doc["kind"].as_str().unwrap_or_default();
        let name = doc["metadata"]["name"].as_str().unwrap_or_default();
        let pod = match kind {
            "CronJob" => &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => &doc["spec"]["template"]["spec"],
        };
        for list in ["initContainers", "containers"] {
            for container in pod[list].as_sequence().into_iter().flatten() {
                out.insert(
                    format!(
                        "{kind}/{name}/{}",
                        container["name"].as_str().unwrap_or_default()
                    ),
                    container["image"].as_str().unwrap_or_default().to_owned(),
                );
            }
        }
    }
    out
}

fn replicas(docs: &[Value]) -> BTreeMap<String, i64> {
    docs.iter()
        .filter(|doc| doc["kind"].as_str() == Some("Deployment"))
        .map(|doc| {
            (
                doc["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                doc["spec"]["replicas"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture");
        }
    }
}

fn kustomization_text(dir: &Path) -> (PathBuf, String) {
    let names: Vec<String> = std::fs::read_dir(dir)
        .expect("overlay dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let name = find_kustomization(&dir.display().to_string(), &names).expect("one kustomization");
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).expect("read kustomization");
    (path, text)
}

/// Edits the overlay's kustomization in place; returns (before, after).
fn edit_overlay(
    dir: &Path,
    images: &[&str],
    replica_args: &[&str],
    compat: bool,
) -> (String, String) {
    let (path, before) = kustomization_text(dir);
    let mut text = set_images(
        &before,
        &parse_image_args(images).expect("valid image arguments"),
        &EditOptions {
            kustomize_compat: compat,
        },
    )
    .expect("edits images");
    if !replica_args.is_empty() {
        text = set_replicas(
            &text,
            &parse_replica_args(replica_args).expect("valid replica arguments"),
        )
        .expect("edits replicas");
    }
    std::fs::write(&path, &text).expect("write kustomization");
    (before, text)
}

/// Lines only in `before` and lines only in `after` (as multisets, in order).
fn changed_lines(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let mut removed: Vec<String> = before.lines().map(str::to_owned).collect();
    let mut added = Vec::new();
    for line in after.lines() {
        match removed.iter().position(|l| l == line) {
            Some(i) => {
                removed.remove(i);
            }
            None => added.push(line.to_owned()),
        }
    }
    (removed, added)
}

#[test]
fn kustomize_rendering_table_from_the_reference() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("base")).expect("base dir");
    std::fs::write(
        dir.path().join("base/kustomization.yaml"),
        "resources:\n- deployment.yaml\n",
    )
    .expect("write base");
    std::fs::write(
        dir.path().join("base/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: backend\nspec:\n  selector:\n    matchLabels: {app: backend}\n  template:\n    metadata:\n      labels: {app: backend}\n    spec:\n      containers:\n      - name: backend\n        image: backend:base-tag\n",
    )
    .expect("write deployment");
    let overlay = dir.path().join("overlay");
    std::fs::create_dir_all(&overlay).expect("overlay dir");
    let rows: Vec<(String, String)> = vec![
        ("backend:T".into(), "backend:T".into()),
        ("backend=R/backend:T".into(), "R/backend:T".into()),
        (format!("backend@{DIGEST}"), format!("backend@{DIGEST}")),
        (format!("backend:T@{DIGEST}"), format!("backend:T@{DIGEST}")),
        (
            format!("backend=R/backend@{DIGEST}"),
            format!("R/backend@{DIGEST}"),
        ),
        ("backend=R/backend".into(), "R/backend:base-tag".into()),
        // Tags YAML 1.1 reads as numbers or booleans build because they are quoted.
        ("backend:1.10".into(), "backend:1.10".into()),
        ("backend:08".into(), "backend:08".into()),
        ("backend:20251203".into(), "backend:20251203".into()),
        ("backend:yes".into(), "backend:yes".into()),
        ("backend:1e3".into(), "backend:1e3".into()),
    ];
    for (arg, expected) in rows {
        let path = overlay.join("kustomization.yaml");
        std::fs::write(&path, "resources:\n- ../base\n").expect("reset overlay");
        edit_overlay(&overlay, &[&arg], &[], false);
        let rendered = images(&render(&overlay));
        assert_eq!(
            rendered
                .get("Deployment/backend/backend")
                .map(String::as_str),
            Some(expected.as_str()),
            "set image {arg}"
        );
        // ImageEntry::render agrees with kustomize.
        let text = std::fs::read_to_string(&path).expect("read back");
        let entries = read_images(&text).expect("reads");
        assert_eq!(
            entries[0].render(Some("base-tag")),
            expected,
            "render of {arg}"
        );
    }
}

fn example_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/ai-incident-assistant/infra/k8s");
    assert!(
        dir.join("overlays").is_dir(),
        "the bundled example is missing at {}",
        dir.display()
    );
    dir
}

#[test]
fn bundled_example_overlays_render_the_deployed_images() {
    let tree = tempfile::tempdir().expect("temp dir");
    copy_tree(&example_dir(), tree.path());
    let registry = "registry.digitalocean.com/ai-incident-assistant";
    let mut overlays: Vec<String> = std::fs::read_dir(tree.path().join("overlays"))
        .expect("overlays")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    overlays.sort();
    assert!(
        overlays.len() >= 3,
        "expected dev, staging and production, found {overlays:?}"
    );
    for env in &overlays {
        let dir = tree.path().join("overlays").join(env);
        let tag = format!("{env}-abc1234-20251203-160000");
        let (before, after) = edit_overlay(
            &dir,
            &[
                &format!("backend:{tag}"),
                &format!("frontend:{tag}@{DIGEST}"),
            ],
            &["backend=5"],
            false,
        );
        let docs = render(&dir);
        let rendered: Vec<String> = images(&docs).into_values().collect();
        assert!(
            rendered.contains(&format!("{registry}/backend:{tag}")),
            "{env}: {rendered:?}"
        );
        assert!(
            rendered.contains(&format!("{registry}/frontend:{tag}@{DIGEST}")),
            "{env}: {rendered:?}"
        );
        assert_eq!(replicas(&docs).get("backend"), Some(&5), "{env}");
        // Only the lines that must change did.
        let (removed, added) = changed_lines(&before, &after);
        assert_eq!(removed.len(), 3, "{env}: removed {removed:?}");
        assert_eq!(
            added,
            vec![
                format!("    newTag: {tag}"),
                format!("    newTag: {tag}"),
                format!("    digest: {DIGEST}"),
                "    count: 5".to_owned(),
            ],
            "{env}"
        );
        // kustomize's semantics: a plain `backend:T` drops newName.
        edit_overlay(&dir, &[&format!("backend:{tag}")], &[], true);
        let rendered: Vec<String> = images(&render(&dir)).into_values().collect();
        assert!(
            rendered.contains(&format!("backend:{tag}")),
            "{env} compat: {rendered:?}"
        );
    }
}

#[test]
fn fixture_overlays_in_every_style_render_the_expected_images() {
    let tree = tempfile::tempdir().expect("temp dir");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/all/fixtures/kustomize/tree"),
        tree.path(),
    );
    let overlays = tree.path().join("overlays");

    // kustomize's own style (flush, alphabetical keys), with a namePrefix.
    edit_overlay(
        &overlays.join("flush"),
        &[
            "ghcr.io/acme/api=registry.acme.dev/api:2.0.0",
            "ghcr.io/acme/worker:1.10",
        ],
        &["api=4"],
        false,
    );
    let docs = render(&overlays.join("flush"));
    let rendered = images(&docs);
    assert_eq!(
        rendered["Deployment/flush-api/api"],
        "registry.acme.dev/api:2.0.0"
    );
    assert_eq!(
        rendered["Deployment/flush-api/migrate"],
        "registry.acme.dev/api:2.0.0"
    );
    assert_eq!(
        rendered["Deployment/flush-api/proxy"],
        "localhost:5000/tools/proxy:1.0"
    );
    assert_eq!(
        rendered["CronJob/flush-worker/worker"],
        "ghcr.io/acme/worker:1.10"
    );
    assert_eq!(replicas(&docs)["flush-api"], 4);

    // Hand-written: comments, `---`, 4-space sequences, quoted values; a host:port registry.
    let commented = overlays.join("commented");
    edit_overlay(
        &commented,
        &["ghcr.io/acme/api:v1.1.0", "localhost:5000/tools/proxy:1.1"],
        &[],
        false,
    );
    let rendered = images(&render(&commented));
    assert_eq!(
        rendered["Deployment/api/api"],
        "registry.acme.dev/api:v1.1.0"
    );
    assert_eq!(
        rendered["Deployment/api/proxy"],
        "localhost:5000/tools/proxy:1.1"
    );
    assert_eq!(rendered["Deployment/api/cache"], "redis:7.2.4");

    // The same file with CRLF line endings stays CRLF and renders the same.
    let (path, text) = kustomization_text(&commented);
    std::fs::write(&path, text.replace('\n', "\r\n")).expect("write CRLF");
    let (_, after) = edit_overlay(&commented, &["redis:7.4"], &[], false);
    assert!(after.contains("      newTag: '7.4'\r\n"), "{after:?}");
    assert_eq!(after.matches('\n').count(), after.matches("\r\n").count());
    let rendered = images(&render(&commented));
    assert_eq!(rendered["Deployment/api/cache"], "redis:7.4");
    assert_eq!(
        rendered["Deployment/api/api"],
        "registry.acme.dev/api:v1.1.0"
    );

    // kustomization.yml without images: a new block in the file's style.
    edit_overlay(
        &overlays.join("empty"),
        &["redis:08", &format!("ghcr.io/acme/worker@{DIGEST}")],
        &[],
        false,
    );
    let rendered = images(&render(&overlays.join("empty")));
    assert_eq!(rendered["Deployment/empty-api/cache"], "redis:08");
    assert_eq!(
        rendered["CronJob/empty-worker/worker"],
        format!("ghcr.io/acme/worker@{DIGEST}")
    );

    // `Kustomization` on top of another overlay: names as the base overlay renders them.
    edit_overlay(
        &overlays.join("chained"),
        &["registry.acme.dev/api:v9", "ghcr.io/acme/worker:v3"],
        &[],
        false,
    );
    let rendered = images(&render(&overlays.join("chained")));
    assert_eq!(
        rendered["Deployment/api-chained/api"],
        "registry.acme.dev/api:v9"
    );
    assert_eq!(
        rendered["CronJob/worker-chained/worker"],
        "ghcr.io/acme/worker:v3"
    );
}
