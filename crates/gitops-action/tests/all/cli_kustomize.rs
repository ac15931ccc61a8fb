//! `gitops kustomize set-image|set-replicas` end to end: real files, `kubectl kustomize`,
//! a real `docker-registry` for `--pin-digest`, exit codes, warnings and annotations.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::registry as registry_support;

const DIGEST: &str = "sha256:24a0c4b4a4c0eb97a1aabb8e29f18e917d05abfe1b7a7c07857230879ce7d3d3";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn gitops(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gitops"));
    cmd.current_dir(dir).args(args);
    for var in [
        "GITHUB_ACTIONS",
        "GITHUB_OUTPUT",
        "GITHUB_STEP_SUMMARY",
        "GITOPS_FORMAT",
        "GITOPS_POLICY",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(envs.iter().copied());
    let output = cmd.output().expect("run gitops");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
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

/// A copy of the core crate's kustomize fixture tree (base + overlays in several styles).
fn fixture_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../gitops-core/tests/all/fixtures/kustomize/tree"),
        dir.path(),
    );
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("read file")
}

fn kubectl_images(dir: &Path) -> Vec<String> {
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl not found: install the Debian package `kubectl` (scripts/test does)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix("image: "))
        .map(str::to_owned)
        .collect()
}

fn leftovers(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".gitops"))
        })
        .collect()
}

#[test]
fn set_image_changes_only_the_needed_lines_and_renders() {
    let tree = fixture_tree();
    let overlay = tree.path().join("overlays/commented");
    let file = overlay.join("kustomization.yaml");
    let before = read(&file);
    let run = gitops(
        tree.path(),
        &[
            "kustomize",
            "set-image",
            "overlays/commented",
            "ghcr.io/acme/api:1.10",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "updated overlays/commented/kustomization.yaml\n  ghcr.io/acme/api: newName registry.acme.dev/api, newTag 1.10\n"
    );
    assert_eq!(run.stderr, "");
    let after = read(&file);
    assert_eq!(
        after,
        before.replace("newTag: \"v1.0.0\"", "newTag: \"1.10\"")
    );
    assert!(kubectl_images(&overlay).contains(&"registry.acme.dev/api:1.10".to_owned()));
    assert!(leftovers(&overlay).is_empty());
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    let tree = fixture_tree();
    let file = tree.path().join("overlays/commented/kustomization.yaml");
    let before = read(&file);
    let run = gitops(
        tree.path(),
        &[
            "kustomize",
            "set-image",
            "overlays/commented",
            "--dry-run",
            "ghcr.io/acme/api:v2",
            "redis=*:7.4",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(run.stdout);
    assert_eq!(
        run.stderr,
        "dry run: overlays/commented/kustomization.yaml was not written\n"
    );
    assert_eq!(read(&file), before);
}

#[test]
fn unchanged_file_is_not_rewritten() {
    let tree = fixture_tree();
    let file = tree.path().join("overlays/commented/kustomization.yaml");
    let before = std::fs::metadata(&file).expect("metadata");
    let run = gitops(
        tree.path(),
        &[
            "kustomize",
            "set-image",
            "overlays/commented",
            "redis:7.2.4",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "overlays/commented/kustomization.yaml already holds redis:7.2.4; nothing to change\n"
    );
    let after = std::fs::metadata(&file).expect("metadata");
    assert_eq!(
        (before.ino(), before.mtime_nsec()),
        (after.ino(), after.mtime_nsec())
    );
}

#[test]
fn warns_when_no_resource_uses_the_image() {
    let tree = fixture_tree();
    // `api` is a typo for `ghcr.io/acme/api`: kustomize would silently deploy nothing.
    let run = gitops(
        tree.path(),
        &["kustomize", "set-image", "overlays/chained", "api:v2"],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("warning: no resource in the build of overlays/chained uses image `api` (images used: ghcr.io/acme/worker, localhost:5000/tools/proxy, redis, registry.acme.dev/api)"),
        "{}",
        run.stderr
    );
    // Names as the base overlay renders them are found through the chain.
    let run = gitops(
        tree.path(),
        &[
            "kustomize",
            "set-image",
            "overlays/chained",
            "registry.acme.dev/api:v2",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    // In GitHub Actions the warning is also an annotation on the file.
    let run = gitops(
        tree.path(),
        &["kustomize", "set-image", "overlays/flush", "typo/api:v2"],
        &[("GITHUB_ACTIONS", "true")],
    );
    assert!(
        run.stderr.contains("::warning file=overlays/flush/kustomization.yaml,title=gitops kustomize::no resource in the build of overlays/flush uses image `typo/api`"),
        "{}",
        run.stderr
    );
    // --require-used turns it into a verdict, and nothing is written.
    let file = tree.path().join("overlays/empty/kustomization.yml");
    let before = read(&file);
    let run = gitops(
        tree.path(),
        &[
            "kustomize",
            "set-image",
            "overlays/empty",
            "--require-used",
            "tpyo:v1",
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("error: image name(s) tpyo match no container"),
        "{}",
        run.stderr
    );
    assert_eq!(read(&file), before);
}

#[test]
fn malformed_kustomization_is_a_located_error_and_untouched() {
    let tree = fixture_tree();
    let file = tree.path().join("overlays/commented/kustomization.yaml");
    let broken = read(&file).replace("      newTag: '7.2.4'", "     newTag: '7.2.4'");
    std::fs::write(&file, &broken).expect("write");
    let run = gitops(
        tree.path(),
        &["kustomize", "set-image", "overlays/commented", "redis:8"],
        &[],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.starts_with("error: cannot edit overlays/commented/kustomization.yaml:15:6\n  caused by: the kustomization is not valid YAML at line 15, column 6:"),
        "{}",
        run.stderr
    );
    assert_eq!(read(&file), broken);
    assert!(leftovers(file.parent().expect("dir")).is_empty());
}

#[test]
fn usage_errors_exit_2() {
    let tree = fixture_tree();
    let cases: [(&[&str], &str); 5] = [
        (
            &["kustomize", "set-image", "overlays/flush"],
            "error: no image specified",
        ),
        (
            &["kustomize", "set-image", "overlays/flush", "bad"],
            "error: invalid image argument `bad`",
        ),
        (
            &["kustomize", "set-replicas", "overlays/flush", "api=x"],
            "error: invalid replicas argument `api=x`",
        ),
        (
            &["kustomize", "set-image", "base/..", "a:1"],
            "error: no kustomization file",
        ),
        (
            &["kustomize", "set-image", "missing", "a:1"],
            "error: cannot read directory missing",
        ),
    ];
    for (args, message) in cases {
        let run = gitops(tree.path(), args, &[]);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.starts_with(message), "{args:?}: {}", run.stderr);
    }
    std::fs::write(
        tree.path().join("overlays/flush/Kustomization"),
        "resources: []\n",
    )
    .expect("write");
    let run = gitops(
        tree.path(),
        &["kustomize", "set-image", "overlays/flush", "a:1"],
        &[],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("found several kustomization files"),
        "{}",
        run.stderr
    );
}

#[test]
fn set_replicas_and_json_output() {
    let tree = fixture_tree();
    let run = gitops(
        tree.path(),
        &[
            "--format",
            "json",
            "kustomize",
            "set-replicas",
            "overlays/flush",
            "api=5",
            "worker=1",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(report["changed"], true);
    assert_eq!(report["written"], true);
    assert_eq!(
        report["replicas"],
        serde_json::json!([{"name": "api", "count": 5}, {"name": "worker", "count": 1}])
    );
    // kustomize's own key order (count before name) is followed for the new entry.
    assert!(read(&tree.path().join("overlays/flush/kustomization.yaml")).ends_with(
        "replicas:\n- count: 5\n  name: api\n- count: 1\n  name: worker\nresources:\n- ../../base\n"
    ));
    let run = gitops(
        tree.path(),
        &[
            "--format",
            "json",
            "kustomize",
            "set-image",
            "overlays/flush",
            "--kustomize-compat",
            &format!("redis@{DIGEST}"),
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(
        report["edits"],
        serde_json::json!([format!("redis@{DIGEST}")])
    );
    assert_eq!(report["images"][0]["digest"], DIGEST);
    assert!(
        report["diff"]
            .as_str()
            .is_some_and(|d| d.contains("+  name: redis"))
    );
}

#[test]
fn pin_digest_resolves_the_tag_in_a_real_registry() {
    let registry = registry_support::TestRegistry::start();
    let layout = tempfile::tempdir().expect("layout dir");
    let image = registry_support::write_image(layout.path(), &[512], 11, &["v1"]);
    let target = format!("{}/acme/api", registry.host());
    let status = Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
        ])
        .arg(format!("oci:{}:v1", layout.path().display()))
        .arg(format!("docker://{target}:v1"))
        .status()
        .expect("skopeo not found: install the Debian package `skopeo` (scripts/test does)");
    assert!(status.success(), "skopeo copy failed");
    let pushed = registry_support::skopeo_raw_digest(&format!("docker://{target}:v1"));
    assert_eq!(pushed, image.digest);

    let tree = fixture_tree();
    let file = tree.path().join("overlays/commented/kustomization.yaml");
    let run = gitops(
        tree.path(),
        &[
            "kustomize",
            "set-image",
            "overlays/commented",
            "--pin-digest",
            &format!("ghcr.io/acme/api={target}:v1"),
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = read(&file);
    assert!(
        text.contains(&format!(
            "      newName: {target}\n      newTag: \"v1\"\n      digest: {pushed}\n"
        )),
        "{text}"
    );
    assert!(kubectl_images(file.parent().expect("dir")).contains(&format!("{target}:v1@{pushed}")));

    // An unknown tag is an external failure (exit 3) and nothing is written.
    let run = gitops(
        tree.path(),
        &[
            "kustomize",
            "set-image",
            "overlays/commented",
            "--pin-digest",
            &format!("ghcr.io/acme/api={target}:missing"),
        ],
        &[],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("cannot resolve"), "{}", run.stderr);
    assert_eq!(read(&file), text);
}

#[test]
fn help_texts() {
    let dir = tempfile::tempdir().expect("temp dir");
    for command in ["set-image", "set-replicas"] {
        let run = gitops(
            dir.path(),
            &["kustomize", command, "--help"],
            &[("COLUMNS", "100")],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        insta::assert_snapshot!(format!("help_kustomize_{command}"), run.stdout);
    }
}

#[test]
fn images_added_by_patches_count_as_used() {
    let tree = fixture_tree();
    let overlay = tree.path().join("overlays/patched");
    std::fs::create_dir_all(&overlay).expect("overlay dir");
    std::fs::write(
        overlay.join("kustomization.yaml"),
        "resources:\n  - ../../base\npatches:\n  - path: sidecar.yaml\n  - target: {kind: Deployment, name: api}\n    patch: |-\n      - op: add\n        path: /spec/template/spec/containers/-\n        value: {name: otel, image: otel/collector:0.99}\n",
    )
    .expect("write kustomization");
    std::fs::write(
        overlay.join("sidecar.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n        - name: envoy\n          image: envoyproxy/envoy:v1.30.0\n",
    )
    .expect("write patch");
    let run = gitops(
        tree.path(),
        &[
            "kustomize",
            "set-image",
            "overlays/patched",
            "--require-used",
            "envoyproxy/envoy:v1.31.0",
            "otel/collector:0.100",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    let images = kubectl_images(&overlay);
    assert!(
        images.contains(&"envoyproxy/envoy:v1.31.0".to_owned()),
        "{images:?}"
    );
    assert!(
        images.contains(&"otel/collector:0.100".to_owned()),
        "{images:?}"
    );
}
