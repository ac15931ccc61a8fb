//! `gitops init` into an empty folder and into one with files; idempotence; `--force`; and
//! everything it writes renders with `kubectl kustomize`.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use super::cli_metrics::run_gitops;

fn scratch() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => panic!("cannot create a temporary folder: {err}"),
    }
}

fn init_json(cwd: &Path, args: &[&str]) -> (Output, Value) {
    let mut all = vec!["init", "--format", "json"];
    all.extend_from_slice(args);
    let output = run_gitops(cwd, &all);
    assert!(
        output.status.success(),
        "gitops init failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = serde_json::from_slice(&output.stdout).unwrap_or_default();
    (output, report)
}

/// (path, action) pairs of an init report.
fn actions(report: &Value) -> Vec<(String, String)> {
    report["files"]
        .as_array()
        .map(|files| {
            files
                .iter()
                .map(|f| {
                    (
                        f["path"].as_str().unwrap_or_default().to_owned(),
                        f["action"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `kubectl kustomize` on a folder; fails naming the package when kubectl is missing.
fn kustomize(dir: &Path) -> String {
    let output = match Command::new("kubectl").arg("kustomize").arg(dir).output() {
        Ok(output) => output,
        Err(err) => panic!(
            "cannot run kubectl ({err}): install the Debian package `kubectl` (scripts/test installs it)"
        ),
    };
    assert!(
        output.status.success(),
        "kubectl kustomize {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every folder holding a kustomization.yaml under `root`.
fn kustomization_dirs(root: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    // Bounded by the scaffold's size.
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "kustomization.yaml") {
                found.push(dir.clone());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn into_an_empty_folder_then_again_changes_nothing() {
    let work = scratch();
    let target = work.path().join("shop");
    let target_text = target.display().to_string();
    let (_, first) = init_json(work.path(), &["--dir", &target_text]);
    let first = actions(&first);
    assert!(first.len() >= 13, "{first:?}");
    assert!(
        first.iter().all(|(_, action)| action == "create"),
        "{first:?}"
    );
    for (path, _) in &first {
        assert!(target.join(path).is_file(), "{path} not written");
    }
    // The app name comes from the folder.
    assert!(target.join("infra/argocd/shop-prod.yaml").is_file());

    let (_, second) = init_json(work.path(), &["--dir", &target_text]);
    let second = actions(&second);
    assert_eq!(second.len(), first.len());
    assert!(
        second.iter().all(|(_, action)| action == "unchanged"),
        "{second:?}"
    );
    let human = run_gitops(work.path(), &["init", "--dir", &target_text]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("nothing to do"));
}

#[test]
fn never_overwrites_without_force() {
    let work = scratch();
    let dir = work.path();
    let mine = "version: 1\nregistry: ghcr.io/mine\nimages: [{name: api}]\nenvironments: {}\n";
    if let Err(err) = std::fs::write(dir.join("gitops.yaml"), mine) {
        panic!("cannot write: {err}");
    }
    let (output, report) = init_json(dir, &[]);
    let acts = actions(&report);
    assert!(
        acts.contains(&("gitops.yaml".to_owned(), "skip".to_owned())),
        "{acts:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("gitops.yaml")).unwrap_or_default(),
        mine,
        "the existing file must be left alone"
    );
    assert!(output.status.success());
    let human = run_gitops(dir, &["init"]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("skipped"), "{text}");
    assert!(text.contains("--force"), "{text}");

    // A dry run with --force reports, writes nothing.
    let (_, dry) = init_json(dir, &["--force", "--dry-run"]);
    assert!(actions(&dry).contains(&("gitops.yaml".to_owned(), "overwrite".to_owned())));
    assert_eq!(
        std::fs::read_to_string(dir.join("gitops.yaml")).unwrap_or_default(),
        mine
    );

    let (_, forced) = init_json(dir, &["--force"]);
    assert!(actions(&forced).contains(&("gitops.yaml".to_owned(), "overwrite".to_owned())));
    let now = std::fs::read_to_string(dir.join("gitops.yaml")).unwrap_or_default();
    assert!(now.contains("environments:\n  development:"), "{now}");
    // Nothing but the scaffold is left behind (no temporary files).
    let stray: Vec<_> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".tmp"))
                .collect()
        })
        .unwrap_or_default();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn everything_written_renders_with_kubectl_kustomize_for_both_engines() {
    for engine in ["argocd", "flux"] {
        let work = scratch();
        let dir = work.path();
        init_json(
            dir,
            &[
                "--engine",
                engine,
                "--images",
                "api,web,worker",
                "--registry",
                "ghcr.io/acme",
                "--name",
                "shop",
                "--repo-url",
                "https://github.com/acme/shop.git",
            ],
        );
        let dirs = kustomization_dirs(dir);
        // base, three overlays and the engine's folder.
        assert_eq!(dirs.len(), 5, "{engine}: {dirs:?}");
        for folder in &dirs {
            let rendered = kustomize(folder);
            assert!(!rendered.trim().is_empty(), "{}", folder.display());
        }
        let prod = kustomize(&dir.join("infra/k8s/overlays/production"));
        assert!(
            prod.contains("image: ghcr.io/acme/worker:prod-latest"),
            "{prod}"
        );
        assert!(prod.contains("replicas: 3"));
        assert!(prod.contains("namespace: production"));
        assert!(prod.contains("host: yourdomain.com"));
        let dev = kustomize(&dir.join("infra/k8s/overlays/dev"));
        assert!(dev.contains("image: ghcr.io/acme/api:dev-latest"));
        assert!(dev.contains("replicas: 1"));
        let engine_dir = if engine == "argocd" {
            "infra/argocd"
        } else {
            "infra/flux"
        };
        let objects = kustomize(&dir.join(engine_dir));
        let kind = if engine == "argocd" {
            "kind: Application"
        } else {
            "kind: Kustomization"
        };
        assert_eq!(objects.matches(kind).count(), 3, "{objects}");
        // The scaffolded policy is accepted by `gitops policy check`.
        let check = run_gitops(dir, &["policy", "check"]);
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let workflow =
            std::fs::read_to_string(dir.join(".github/workflows/gitops.yml")).unwrap_or_default();
        assert!(
            workflow
                .contains("uses: gitops-action/gitops-action/.github/workflows/pipeline.yml@v1")
        );
    }
}

#[test]
fn bad_image_names_exit_2_and_write_nothing() {
    let work = scratch();
    let output = run_gitops(work.path(), &["init", "--images", "Backend,web"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("image name 'Backend'"), "{stderr}");
    let entries = std::fs::read_dir(work.path())
        .map(Iterator::count)
        .unwrap_or(1);
    assert_eq!(entries, 0);
}

#[test]
fn credentials_in_the_origin_url_never_reach_the_manifests() {
    let work = scratch();
    let dir = work.path();
    let repo = git2::Repository::init(dir);
    let Ok(repo) = repo else {
        panic!("cannot init a repository");
    };
    if let Err(err) = repo.remote(
        "origin",
        "https://bot:s3cr3t-token@github.com/acme/shop.git",
    ) {
        panic!("cannot add a remote: {err}");
    }
    init_json(dir, &["--name", "shop"]);
    let app = std::fs::read_to_string(dir.join("infra/argocd/shop-dev.yaml")).unwrap_or_default();
    assert!(
        app.contains("repoURL: https://github.com/acme/shop.git"),
        "{app}"
    );
    assert!(!app.contains("s3cr3t"));
}

/// The scaffolded overlays are what `gitops kustomize set-image` (and so `gitops deploy`)
/// edits; running init again afterwards never reverts a deployment.
#[test]
fn deploys_edit_the_scaffold_and_a_later_init_leaves_them_alone() {
    let work = scratch();
    let dir = work.path();
    init_json(dir, &["--registry", "ghcr.io/acme", "--name", "shop"]);
    let digest = format!("sha256:{}", "1".repeat(64));
    let image = format!("backend=ghcr.io/acme/backend:dev-abc1234-20261129-120000@{digest}");
    let set = run_gitops(
        dir,
        &[
            "kustomize",
            "set-image",
            "infra/k8s/overlays/dev",
            &image,
            "--require-used",
        ],
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let rendered = kustomize(&dir.join("infra/k8s/overlays/dev"));
    assert!(
        rendered.contains(&format!(
            "image: ghcr.io/acme/backend:dev-abc1234-20261129-120000@{digest}"
        )),
        "{rendered}"
    );
    let (_, again) = init_json(dir, &["--registry", "ghcr.io/acme", "--name", "shop"]);
    let acts = actions(&again);
    assert!(acts.contains(&(
        "infra/k8s/overlays/dev/kustomization.yaml".to_owned(),
        "skip".to_owned()
    )));
    assert!(
        kustomize(&dir.join("infra/k8s/overlays/dev")).contains(&digest),
        "the deployed digest is still there"
    );
}
