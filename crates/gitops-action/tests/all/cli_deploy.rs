//! `gitops deploy`, `rollback`, `history`, `diff` and `backport` as processes against real
//! repositories: bare remotes served by `git daemon` (real receive-pack, hooks run).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::git::{GitDaemon, Remote, git};

const PROD: &str = "infra/k8s/overlays/production/kustomization.yaml";
const STAGING: &str = "infra/k8s/overlays/staging/kustomization.yaml";
const DIGEST: &str = "sha256:4f1c9f0e3b2a1d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d";

const BASE_KUSTOMIZATION: &str = "resources:\n  - deployment.yaml\n";
const BASE_DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: backend
spec:
  selector:
    matchLabels: {app: backend}
  template:
    metadata:
      labels: {app: backend}
    spec:
      containers:
        - name: backend
          image: backend:base
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: frontend
spec:
  selector:
    matchLabels: {app: frontend}
  template:
    metadata:
      labels: {app: frontend}
    spec:
      containers:
        - name: frontend
          image: frontend:base
";

fn overlay(env: &str) -> String {
    format!(
        "# {env} overlay: edited by gitops deploy
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {env}
resources:
  - ../../base
images:
  - name: backend
    newName: registry.example.com/acme/backend
    newTag: first-0000000 # initial
  - name: frontend
    newName: registry.example.com/acme/frontend
    newTag: first-0000000
replicas:
  - name: backend
    count: 1
"
    )
}

/// A GitOps remote with dev/staging/production overlays, served by git daemon, plus a
/// policy file declaring `backend`, `frontend` and `extra` more images.
struct Fixture {
    remote: Remote,
    daemon: GitDaemon,
    policy: PathBuf,
}

impl Fixture {
    fn new(extra_images: usize) -> Self {
        let prod = overlay("production");
        let staging = overlay("staging");
        let dev = overlay("dev");
        let remote = Remote::with_files(&[
            ("infra/k8s/base/kustomization.yaml", BASE_KUSTOMIZATION),
            ("infra/k8s/base/deployment.yaml", BASE_DEPLOYMENT),
            (PROD, &prod),
            (STAGING, &staging),
            ("infra/k8s/overlays/dev/kustomization.yaml", &dev),
        ]);
        let daemon = GitDaemon::start(remote.dir.path());
        let mut images = String::from("  - name: backend\n  - name: frontend\n");
        for i in 0..extra_images {
            images.push_str(&format!("  - name: svc{i:02}\n"));
        }
        let policy_text = format!(
            "version: 1
registry: registry.example.com/acme
images:
{images}environments:
  development:
    branch: dev
    tag_prefix: dev
    overlay: infra/k8s/overlays/dev
    replicas: 1
  staging:
    branch: staging
    tag_prefix: staging
    overlay: infra/k8s/overlays/staging
    replicas: 2
  production:
    branch: main
    tag_prefix: prod
    overlay: infra/k8s/overlays/production
    replicas: 3
gitops:
  repo: {url}
  branch: main
  author_name: deploy-bot
  author_email: deploy-bot@example.com
",
            url = daemon.url("remote.git")
        );
        let policy = remote.dir.path().join("gitops.yaml");
        std::fs::write(&policy, policy_text).unwrap_or_else(|err| panic!("write policy: {err}"));
        Self {
            remote,
            daemon,
            policy,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gitops"));
        command
            .args(args)
            .current_dir(self.remote.dir.path())
            .env("GITOPS_POLICY", &self.policy)
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_SHA")
            .env_remove("GITOPS_FORMAT")
            .env("HOME", self.remote.dir.path());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .unwrap_or_else(|err| panic!("cannot run gitops: {err}"))
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        let output = self.run(&all);
        assert!(
            output.status.success(),
            "gitops {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
            panic!(
                "stdout is not JSON ({err}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }
}

fn image(name: &str, tag: &str) -> String {
    format!("{name}=registry.example.com/acme/{name}:{tag}")
}

/// Renders an overlay of `branch` with `kubectl kustomize` and returns the container images.
fn rendered_images(remote: &Remote, branch: &str, overlay_dir: &str) -> Vec<String> {
    let out = tempfile::tempdir().unwrap_or_else(|err| panic!("tempdir: {err}"));
    let tarball = out.path().join("tree.tar");
    git(
        &remote.bare,
        &["archive", "-o", &tarball.display().to_string(), branch],
    );
    let status = Command::new("tar")
        .arg("-xf")
        .arg(&tarball)
        .arg("-C")
        .arg(out.path())
        .status()
        .unwrap_or_else(|err| panic!("tar: {err}"));
    assert!(status.success());
    let rendered = Command::new("kubectl")
        .arg("kustomize")
        .arg(out.path().join(overlay_dir))
        .output()
        .unwrap_or_else(|err| panic!("cannot run kubectl (package `kubectl`): {err}"));
    assert!(
        rendered.status.success(),
        "kubectl kustomize failed: {}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    String::from_utf8_lossy(&rendered.stdout)
        .lines()
        .filter_map(|line| line.trim().trim_start_matches("- ").strip_prefix("image: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn deploy_writes_one_commit_that_kustomize_renders_and_is_idempotent() {
    let fx = Fixture::new(0);
    let before = fx.remote.count("main");
    let backend = format!(
        "{}@{DIGEST}",
        image("backend", "prod-abc1234-20251203-160000")
    );
    let frontend = image("frontend", "prod-abc1234-20251203-160000");
    let doc = fx.json(&[
        "deploy",
        "--env",
        "production",
        "--image",
        &backend,
        "--image",
        &frontend,
        "--source-commit",
        "abc1234def5678901234567890abcdef12345678",
    ]);
    assert_eq!(doc["deployed"], true);
    assert_eq!(doc["changed_files"], serde_json::json!([PROD]));
    let commit = doc["commit"].as_str().unwrap_or_default().to_owned();
    assert_eq!(fx.remote.tip("main"), commit);
    assert_eq!(fx.remote.count("main"), before + 1);

    let text = fx.remote.show("main", PROD);
    assert!(text.starts_with("# production overlay: edited by gitops deploy\n"));
    assert!(text.contains("newTag: prod-abc1234-20251203-160000 # initial\n"));
    assert!(text.contains(&format!("digest: {DIGEST}")));
    assert!(
        text.contains("count: 3"),
        "replicas from the policy: {text}"
    );

    let message = fx.remote.git_bare(&["log", "-1", "--format=%B", "main"]);
    insta::assert_snapshot!(message);
    assert_eq!(
        fx.remote
            .git_bare(&["log", "-1", "--format=%an <%ae>", "main"]),
        "deploy-bot <deploy-bot@example.com>"
    );

    let images = rendered_images(&fx.remote, "main", "infra/k8s/overlays/production");
    assert_eq!(
        images,
        vec![
            format!("registry.example.com/acme/backend:prod-abc1234-20251203-160000@{DIGEST}"),
            "registry.example.com/acme/frontend:prod-abc1234-20251203-160000".to_owned(),
        ]
    );

    // Deploying the same images again changes nothing.
    let again = fx.json(&[
        "deploy",
        "--env",
        "production",
        "--image",
        &backend,
        "--image",
        &frontend,
    ]);
    assert_eq!(again["deployed"], false);
    assert_eq!(again["commit"], Value::Null);
    assert_eq!(fx.remote.count("main"), before + 1);
}

#[test]
fn dry_run_prints_the_diff_and_writes_nothing() {
    let fx = Fixture::new(0);
    let tip = fx.remote.tip("main");
    let output = fx.run(&[
        "deploy",
        "--env",
        "staging",
        "--branch",
        "main",
        "--image",
        &image("backend", "staging-abc1234-20251203-160000"),
        "--dry-run",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("(dry run)"), "{stdout}");
    assert!(
        stdout.contains("-    newTag: first-0000000 # initial"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+    newTag: staging-abc1234-20251203-160000 # initial"),
        "{stdout}"
    );
    assert_eq!(fx.remote.tip("main"), tip);
}

#[test]
fn an_image_no_container_uses_is_deployed_with_a_warning() {
    let fx = Fixture::new(1);
    let output = fx.run(&[
        "deploy",
        "--env",
        "production",
        "--image",
        &image("svc00", "prod-abc1234-20251203-160000"),
    ]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning: no container in the resources of infra/k8s/overlays/production uses image 'svc00' (found: backend, frontend)"),
        "{stderr}"
    );
    let quiet = fx.run(&[
        "deploy",
        "--env",
        "production",
        "--image",
        &image("backend", "prod-abc1234-20251203-160000"),
    ]);
    assert!(quiet.status.success());
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("warning"));
}

#[test]
fn unknown_image_and_environment_are_usage_errors() {
    let fx = Fixture::new(0);
    let output = fx.run(&["deploy", "--env", "production", "--image", "nope=x:y"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("'nope' is not an image of the policy"),
        "{stderr}"
    );
    let output = fx.run(&["deploy", "--env", "qa", "--image", "backend=v1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown environment 'qa'"));
}

#[test]
fn malformed_kustomization_fails_with_line_and_column_and_changes_nothing() {
    let fx = Fixture::new(0);
    // A checkout without a remote is written in place: the strictest case for "unchanged".
    let checkout = fx.remote.dir.path().join("checkout");
    git(
        fx.remote.dir.path(),
        &["clone", "-q", "remote.git", "checkout"],
    );
    git(&checkout, &["remote", "remove", "origin"]);
    let broken = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n  - name: backend\n    newTag: [unclosed\n";
    std::fs::write(checkout.join(PROD), broken).unwrap_or_else(|err| panic!("write: {err}"));
    git(&checkout, &["commit", "-q", "-am", "break the overlay"]);
    let head = git(&checkout, &["rev-parse", "HEAD"]);

    let output = fx.run(&[
        "deploy",
        "--env",
        "production",
        "--gitops-repo",
        &checkout.display().to_string(),
        "--image",
        &image("backend", "prod-abc1234-20251203-160000"),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let located = stderr.lines().any(|line| {
        line.split_once(&format!("{PROD}:"))
            .is_some_and(|(_, rest)| {
                let mut parts = rest.splitn(3, ':');
                let line_no = parts.next().unwrap_or_default();
                let column = parts.next().unwrap_or_default();
                !line_no.is_empty()
                    && line_no.chars().all(|c| c.is_ascii_digit())
                    && !column.is_empty()
                    && column.chars().all(|c| c.is_ascii_digit())
            })
    });
    assert!(located, "error must name file:line:column: {stderr}");
    assert_eq!(git(&checkout, &["rev-parse", "HEAD"]), head, "no commit");
    assert_eq!(
        git(&checkout, &["status", "--porcelain"]),
        "",
        "tree unchanged"
    );
    assert_eq!(
        std::fs::read_to_string(checkout.join(PROD)).unwrap_or_default(),
        broken
    );
}

#[test]
fn a_push_refused_once_by_a_pre_receive_hook_is_retried_and_lands() {
    let fx = Fixture::new(0);
    fx.remote.hook(
        "pre-receive",
        "#!/bin/sh\nif [ ! -f refused-once ]; then touch refused-once; echo 'try again' >&2; exit 1; fi\nexit 0\n",
    );
    let doc = fx.json(&[
        "deploy",
        "--env",
        "production",
        "--image",
        &image("backend", "prod-abc1234-20251203-160000"),
    ]);
    assert_eq!(doc["deployed"], true);
    assert_eq!(doc["attempts"], 2);
    assert_eq!(
        fx.remote.tip("main"),
        doc["commit"].as_str().unwrap_or_default()
    );
}

#[test]
fn twenty_concurrent_deploy_processes_land_twenty_commits() {
    let writers = 20;
    let fx = Fixture::new(writers);
    let before = fx.remote.count("main");
    let children: Vec<_> = (0..writers)
        .map(|i| {
            let name = format!("svc{i:02}");
            fx.command(&[
                "--format",
                "json",
                "deploy",
                "--env",
                "production",
                "--image",
                &image(&name, "prod-abc1234-20251203-160000"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("spawn gitops: {err}"))
        })
        .collect();
    let mut commits = Vec::new();
    for child in children {
        let output = child
            .wait_with_output()
            .unwrap_or_else(|err| panic!("wait: {err}"));
        assert!(
            output.status.success(),
            "a deploy failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let doc: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        assert_eq!(doc["deployed"], true);
        commits.push(doc["commit"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(
        fx.remote.count("main"),
        before + writers,
        "none lost, none extra"
    );
    let history = fx.remote.git_bare(&["rev-list", "main"]);
    for commit in &commits {
        assert!(history.lines().any(|l| l == commit), "{commit} not on main");
    }
    commits.sort();
    commits.dedup();
    assert_eq!(commits.len(), writers, "no duplicated commit");
    let text = fx.remote.show("main", PROD);
    for i in 0..writers {
        assert_eq!(
            text.matches(&format!("name: svc{i:02}\n")).count(),
            1,
            "svc{i:02} exactly once in {text}"
        );
    }
}

#[test]
fn rollback_restores_the_previous_set_as_a_forward_commit_and_history_shows_it() {
    let fx = Fixture::new(0);
    let refused = fx.run(&["rollback", "--env", "production"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no deploy in the ledger"));

    let v1 = fx.json(&[
        "deploy",
        "--env",
        "production",
        "--image",
        &image("backend", "prod-aaaaaaa-20251201-100000"),
        "--source-commit",
        "aaaaaaa000000000000000000000000000000000",
    ]);
    let refused = fx.run(&["rollback", "--env", "production"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no earlier deploy"));

    let v2 = fx.json(&[
        "deploy",
        "--env",
        "production",
        "--image",
        &image("backend", "prod-bbbbbbb-20251202-100000"),
        "--source-commit",
        "bbbbbbb000000000000000000000000000000000",
    ]);
    let before = fx.remote.count("main");
    let rolled = fx.json(&["rollback", "--env", "production"]);
    assert_eq!(rolled["deployed"], true);
    assert_eq!(rolled["kind"], "rollback");
    assert_eq!(fx.remote.count("main"), before + 1, "a forward commit");
    let message = fx.remote.git_bare(&["log", "-1", "--format=%B", "main"]);
    assert!(
        message.starts_with("rollback(production): backend prod-aaaaaaa-20251201-100000"),
        "{message}"
    );
    assert!(message.contains(&format!(
        "Gitops-Rollback-Of: {}",
        v2["commit"].as_str().unwrap_or_default()
    )));
    assert!(
        fx.remote
            .show("main", PROD)
            .contains("newTag: prod-aaaaaaa-20251201-100000")
    );

    let history = fx.json(&["history", "--env", "production"]);
    let entries = history["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["kind"], "rollback");
    assert_eq!(entries[0]["rollback_of"], v2["commit"]);
    assert_eq!(entries[2]["commit"], v1["commit"]);
    assert_eq!(
        entries[2]["source_commit"],
        "aaaaaaa000000000000000000000000000000000"
    );
    assert_eq!(entries[1]["author"], "deploy-bot <deploy-bot@example.com>");

    // The human table names the image and who deployed it.
    let table = fx.run(&["history", "--env", "production"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("prod-bbbbbbb-20251202-100000"), "{table}");
    assert!(table.contains("deploy-bot"), "{table}");

    // Rolling back again goes further back (nothing earlier than v1: refused).
    let refused = fx.run(&["rollback", "--env", "production"]);
    assert_eq!(refused.status.code(), Some(2));

    // --to names a tag of the ledger.
    let to = fx.json(&[
        "rollback",
        "--env",
        "production",
        "--to",
        "prod-bbbbbbb-20251202-100000",
    ]);
    assert_eq!(to["deployed"], true);
    assert!(
        fx.remote
            .show("main", PROD)
            .contains("newTag: prod-bbbbbbb-20251202-100000")
    );
}

#[test]
fn diff_lists_images_and_source_commits_staging_has_and_production_lacks() {
    let fx = Fixture::new(0);
    let deploy = |env: &str, tag: &str, source: &str| {
        fx.json(&[
            "deploy",
            "--env",
            env,
            "--branch",
            "main",
            "--image",
            &format!("{}@{DIGEST}", image("backend", tag)),
            "--source-commit",
            source,
        ])
    };
    deploy(
        "production",
        "prod-aaaaaaa",
        "aaaaaaa000000000000000000000000000000000",
    );
    deploy(
        "staging",
        "staging-aaaaaaa",
        "aaaaaaa000000000000000000000000000000000",
    );
    let same = fx.json(&[
        "diff",
        "--from",
        "staging",
        "--to",
        "production",
        "--branch",
        "main",
    ]);
    assert_eq!(
        same["images"],
        serde_json::json!([]),
        "same digest: same build"
    );
    assert_eq!(same["source_commits"], serde_json::json!([]));

    fx.json(&[
        "deploy",
        "--env",
        "staging",
        "--branch",
        "main",
        "--image",
        &image("frontend", "staging-ccccccc"),
        "--source-commit",
        "ccccccc000000000000000000000000000000000",
    ]);
    let diff = fx.json(&[
        "diff",
        "--from",
        "staging",
        "--to",
        "production",
        "--branch",
        "main",
    ]);
    assert_eq!(diff["images"][0]["name"], "frontend");
    assert_eq!(diff["images"][0].get("to"), None);
    assert_eq!(
        diff["source_commits"],
        serde_json::json!(["ccccccc000000000000000000000000000000000"])
    );
}

#[test]
fn backport_picks_onto_clean_branches_and_leaves_conflicting_ones_untouched() {
    let fx = Fixture::new(0);
    let work: &Path = &fx.remote.work;
    git(work, &["branch", "staging"]);
    git(work, &["branch", "dev"]);
    git(work, &["checkout", "-q", "dev"]);
    std::fs::write(work.join("infra/k8s/base/deployment.yaml"), "dev edit\n")
        .unwrap_or_else(|err| panic!("write: {err}"));
    git(work, &["commit", "-q", "-am", "dev diverges"]);
    git(work, &["checkout", "-q", "main"]);
    let hotfixed = BASE_DEPLOYMENT.replace("backend:base", "backend:hotfix");
    std::fs::write(work.join("infra/k8s/base/deployment.yaml"), hotfixed)
        .unwrap_or_else(|err| panic!("write: {err}"));
    git(work, &["commit", "-q", "-am", "hotfix: backend image"]);
    let hotfix = git(work, &["rev-parse", "HEAD"]);
    git(work, &["push", "-q", "origin", "main", "staging", "dev"]);
    let dev_tip = fx.remote.tip("dev");

    let repo = fx.daemon.url("remote.git");
    let output = fx.run(&[
        "--format",
        "json",
        "backport",
        "--commit",
        &hotfix,
        "--to",
        "staging,development",
        "--repo",
        &repo,
    ]);
    assert_eq!(output.status.code(), Some(1), "a conflict is a verdict");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("conflicts in infra/k8s/base/deployment.yaml"),
        "{stderr}"
    );
    assert!(stderr.contains("left untouched"), "{stderr}");
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    assert_eq!(doc["results"][0]["status"], "picked");
    assert_eq!(doc["results"][1]["status"], "conflict");
    assert_eq!(doc["results"][1]["branch"], "dev");
    assert_eq!(fx.remote.tip("dev"), dev_tip, "dev untouched");
    assert_eq!(
        fx.remote.tip("staging"),
        doc["results"][0]["commit"].as_str().unwrap_or_default()
    );
    assert!(
        fx.remote
            .show("staging", "infra/k8s/base/deployment.yaml")
            .contains("backend:hotfix")
    );
}
