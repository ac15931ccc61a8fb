//! `gitops pipeline` end to end: the whole flow on an OCI layout and a local bare repository.

#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const TIME: &str = "2025-12-03T12:00:00Z";

fn gitops(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitops"))
        .args(args)
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITOPS_POLICY")
        .env_remove("GITOPS_FORMAT")
        .env_remove("GITOPS_NOW")
        .output()
        .expect("run gitops")
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "gitops failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    serde_json::from_slice(&output.stdout).expect("JSON summary on stdout")
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn whole_pipeline_promotes_one_digest_through_every_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let summary = json(&gitops(
        tmp.path(),
        &[
            "pipeline",
            "--workdir",
            "run",
            "--approve",
            "--time",
            TIME,
            "--format",
            "json",
        ],
    ));
    assert_eq!(summary["production"], "deployed");
    assert_eq!(summary["digest_identical_in_all_environments"], true);
    let tested = summary["tested_digests"].as_object().unwrap();
    assert_eq!(tested.len(), 2, "backend and frontend are built: {summary}");
    for env in ["development", "staging", "production"] {
        for (image, digest) in tested {
            assert_eq!(
                &summary["environments"][env][image], digest,
                "{env}/{image}"
            );
        }
    }
    let kinds: Vec<(&str, &str)> = summary["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["environment"].as_str().unwrap(),
                c["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("development", "deploy"),
            ("staging", "deploy"),
            ("production", "deploy"),
            ("development", "deploy"),
            ("development", "rollback"),
        ]
    );

    // The GitOps remote's final state: the overlays pin the tested digests, and the ledger
    // has one commit per deploy with machine-readable trailers.
    let remote = tmp.path().join("run/gitops.git");
    let production = git(
        &remote,
        &[
            "show",
            "main:infra/k8s/overlays/production/kustomization.yaml",
        ],
    );
    for digest in tested.values() {
        assert!(
            production.contains(digest.as_str().unwrap()),
            "production overlay lacks {digest}:\n{production}"
        );
    }
    assert!(
        production.contains("count: 3"),
        "production keeps 3 replicas:\n{production}"
    );
    let log = git(&remote, &["log", "--format=%s%n%b%n--", "main"]);
    assert_eq!(log.matches("Gitops-Environment:").count(), 5, "{log}");
    assert_eq!(log.matches("Gitops-Rollback-Of:").count(), 1, "{log}");
    assert!(log.contains("rollback(development)"), "{log}");

    // Retention judged every tag and would delete only the expired dev builds of old sprints.
    let retention = &summary["retention"];
    assert!(retention["deleted"].as_u64().unwrap() >= 1, "{retention}");
    for report in retention["reports"].as_object().unwrap().values() {
        for tag in report["plan"]["tags"].as_array().unwrap() {
            let name = tag["tag"].as_str().unwrap();
            if tag["action"] == "delete" {
                assert!(
                    name.starts_with("dev-") && !name.ends_with("-latest"),
                    "{name} must not be deleted"
                );
                assert!(
                    tag["reason"].as_str().unwrap().starts_with("expired"),
                    "{tag}"
                );
            }
        }
    }
}

#[test]
fn production_waits_for_approval_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let waiting = json(&gitops(
        tmp.path(),
        &[
            "pipeline",
            "--workdir",
            "run",
            "--time",
            TIME,
            "--format",
            "json",
        ],
    ));
    assert_eq!(waiting["production"], "awaiting-approval");
    assert_eq!(waiting["digest_identical_in_all_environments"], false);
    assert_eq!(
        waiting["commits"].as_array().unwrap().len(),
        2,
        "dev and staging only: {waiting}"
    );
    let remote = tmp.path().join("run/gitops.git");
    let before = git(&remote, &["rev-parse", "main"]);

    let resumed = json(&gitops(
        tmp.path(),
        &[
            "pipeline",
            "--workdir",
            "run",
            "--approve",
            "--time",
            TIME,
            "--format",
            "json",
        ],
    ));
    assert_eq!(resumed["production"], "deployed");
    assert_eq!(resumed["digest_identical_in_all_environments"], true);
    assert_eq!(
        waiting["tested_digests"], resumed["tested_digests"],
        "resuming must not rebuild"
    );
    let after = git(
        &remote,
        &["log", "--format=%H", &format!("{}..main", before.trim())],
    );
    assert_eq!(
        after.lines().count(),
        3,
        "production deploy, bad deploy, rollback"
    );
}

#[test]
fn refuses_a_folder_it_did_not_create() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("mine")).unwrap();
    std::fs::write(tmp.path().join("mine/notes.txt"), "keep me").unwrap();
    let out = gitops(tmp.path(), &["pipeline", "--workdir", "mine"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("was not made by `gitops pipeline`"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("mine/notes.txt")).unwrap(),
        "keep me"
    );
}
