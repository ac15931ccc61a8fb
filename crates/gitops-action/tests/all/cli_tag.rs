//! `gitops tag` as a process: the documented example, JSON with OCI labels, the event
//! fallback, `tag parse`, and bad input.

use std::process::Command;

use super::cli_plan::{SHA, gitops};

#[test]
fn documented_example_prints_exactly_two_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = gitops(
        dir.path(),
        &[
            "tag",
            "--env",
            "development",
            "--sha",
            SHA,
            "--time",
            "2025-12-03T12:00:00Z",
            "--image",
            "registry.example.com/app/backend",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "registry.example.com/app/backend:dev-860c190-20251203-120000\nregistry.example.com/app/backend:dev-latest\n"
    );
    assert_eq!(out.stderr, "");
}

#[test]
fn prefix_and_repeated_images_and_source_date_epoch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = gitops(
        dir.path(),
        &[
            "tag",
            "--env",
            "prod",
            "--sha",
            SHA,
            "--image",
            "ghcr.io/acme/api",
            "--image",
            "localhost:5000/web",
        ],
        &[("SOURCE_DATE_EPOCH", "1764777600")],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn json_with_labels_and_tree_from_the_local_repository() {
    let dir = tempfile::tempdir().expect("tempdir");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .current_dir(dir.path())
            .args(args)
            .output()
            .expect("git runs (install the git package)");
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    git(&["init", "-q", "-b", "dev"]);
    git(&[
        "remote",
        "add",
        "origin",
        "https://user:secret@github.com/acme/app.git",
    ]);
    std::fs::write(dir.path().join("a.txt"), "a").expect("write");
    git(&["add", "a.txt"]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "commit",
        "-q",
        "-m",
        "a",
    ]);
    let sha = git(&["rev-parse", "HEAD"]);
    let tree = git(&["rev-parse", "HEAD^{tree}"]);
    let out = gitops(
        dir.path(),
        &["--format", "json", "tag", "--time", "2025-12-03T12:00:00Z"],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(json["environment"], "development");
    assert_eq!(
        json["version"],
        format!("dev-{}-20251203-120000", &sha[..7])
    );
    assert_eq!(json["tags"].as_array().map(Vec::len), Some(4));
    let labels = &json["labels"];
    assert_eq!(labels["org.opencontainers.image.revision"], sha.as_str());
    assert_eq!(
        labels["org.opencontainers.image.created"],
        "2025-12-03T12:00:00Z"
    );
    assert_eq!(labels["org.opencontainers.image.version"], json["version"]);
    assert_eq!(labels["dev.gitops.environment"], "development");
    assert_eq!(labels["dev.gitops.tree"], tree.as_str());
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://github.com/acme/app.git"
    );
    assert!(!out.stdout.contains("secret"));
}

#[test]
fn json_in_actions_uses_the_repository_url_and_writes_outputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = dir.path().join("output");
    let out = gitops(
        dir.path(),
        &[
            "--format",
            "json",
            "tag",
            "--env",
            "staging",
            "--sha",
            SHA,
            "--time",
            "2025-12-03T14:00:00Z",
            "--tree",
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
            "--image",
            "ghcr.io/acme/api",
        ],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/api"),
            ("GITHUB_OUTPUT", output.to_str().expect("utf-8")),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(out.stdout);
    let outputs = std::fs::read_to_string(&output).expect("outputs");
    assert!(outputs.contains("version=staging-860c190-20251203-140000\n"));
    assert!(outputs.contains("environment=staging\n"));
}

#[test]
fn environment_from_the_event_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = gitops(
        dir.path(),
        &[
            "tag",
            "--branch",
            "main",
            "--sha",
            SHA,
            "--time",
            "2025-12-03T16:00:00Z",
            "--image",
            "ghcr.io/acme/api",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "ghcr.io/acme/api:prod-860c190-20251203-160000\nghcr.io/acme/api:prod-latest\n"
    );
    let out = gitops(
        dir.path(),
        &["tag", "--branch", "feature/x", "--sha", SHA],
        &[],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("deploys to no environment; pass --env ENV"),
        "{}",
        out.stderr
    );
}

#[test]
fn tag_parse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = gitops(
        dir.path(),
        &["tag", "parse", "prod-a1b2c3d-20251203-160000"],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(out.stdout);
    let out = gitops(
        dir.path(),
        &[
            "--format",
            "json",
            "tag",
            "parse",
            "registry.example.com/app/backend:dev-latest",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(json["latest"], true);
    assert_eq!(json["environment"], "development");
    let out = gitops(dir.path(), &["tag", "parse", "v1.2.3"], &[]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("does not follow the policy's tag templates")
    );
}

#[test]
fn tag_bad_input_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (args, expected) in [
        (
            vec!["tag", "--env", "qa", "--sha", SHA],
            "unknown environment 'qa'; known: development (dev), staging (staging), production (prod)",
        ),
        (
            vec!["tag", "--env", "dev", "--sha", "12345"],
            "invalid commit sha '12345'",
        ),
        (
            vec!["tag", "--env", "dev", "--sha", "zzzzzzzz"],
            "invalid commit sha 'zzzzzzzz'",
        ),
        (
            vec!["tag", "--env", "dev", "--sha", SHA, "--image", "Bad Ref"],
            "invalid repository",
        ),
        (
            vec![
                "tag",
                "--env",
                "dev",
                "--sha",
                SHA,
                "--image",
                "ghcr.io/a/b:1.0",
            ],
            "without a tag or digest",
        ),
        (
            vec!["tag", "--env", "dev", "--sha", SHA, "--time", "2025-13-01"],
            "expected RFC 3339",
        ),
    ] {
        let out = gitops(dir.path(), &args, &[]);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
        assert_eq!(out.stdout, "", "nothing half-written");
    }
    let out = gitops(
        dir.path(),
        &["tag", "--env", "dev", "--sha", SHA],
        &[("SOURCE_DATE_EPOCH", "soon")],
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("SOURCE_DATE_EPOCH='soon'"));
}
