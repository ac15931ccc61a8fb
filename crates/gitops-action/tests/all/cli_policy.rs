//! `gitops policy check|explain|schema|test` as a process.

use std::path::Path;

use super::cli_plan::{example_dir, gitops};

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

const BROKEN: &str = "registry: ghcr.io/acme
images:
  - name: api
environments:
  dev:
    branch: dev
    tag_prefix: dev
    overlay: ../elsewhere
    retension: { max_age: 7d }
  qa:
    branch: dev
    tag_prefix: 'q a'
    overlay: k8s/qa
";

#[test]
fn check_lists_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "gitops.yaml", BROKEN);
    let out = gitops(dir.path(), &["policy", "check"], &[]);
    assert_eq!(out.code, 2);
    assert_eq!(out.stdout, "");
    insta::assert_snapshot!(out.stderr);
}

#[test]
fn check_json_and_annotations_in_actions() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), ".github/gitops.yaml", BROKEN);
    let out = gitops(
        dir.path(),
        &["--format", "json", "policy", "check"],
        &[("GITHUB_ACTIONS", "true")],
    );
    assert_eq!(out.code, 2);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(json["valid"], false);
    assert_eq!(json["source"], ".github/gitops.yaml");
    let first = &json["diagnostics"][0];
    assert_eq!(
        (first["line"].as_u64(), first["column"].as_u64()),
        (Some(8), Some(5))
    );
    assert!(out.stderr.contains(
        "::error file=.github/gitops.yaml,line=9,col=5,title=environments.dev::unknown field 'retension', did you mean 'retention'?"
    ), "{}", out.stderr);
}

#[test]
fn check_ok_and_discovery_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = gitops(dir.path(), &["policy", "check"], &[]);
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stdout,
        "<embedded default>: ok, 3 environment(s), 2 image(s) (no gitops.yaml or .github/gitops.yaml found)\n"
    );
    let example = std::fs::read_to_string(example_dir().join("gitops.yaml")).expect("example");
    write(dir.path(), ".github/gitops.yaml", &example);
    let out = gitops(dir.path(), &["policy", "check"], &[]);
    assert_eq!(
        out.stdout,
        ".github/gitops.yaml: ok, 3 environment(s), 2 image(s)\n"
    );
    write(dir.path(), "gitops.yaml", BROKEN);
    assert_eq!(
        gitops(dir.path(), &["policy", "check"], &[]).code,
        2,
        "./gitops.yaml wins"
    );
    let out = gitops(
        dir.path(),
        &["--policy", ".github/gitops.yaml", "policy", "check"],
        &[],
    );
    assert_eq!(out.code, 0, "--policy wins: {}", out.stderr);
    let out = gitops(
        dir.path(),
        &["--policy", "missing.yaml", "policy", "check"],
        &[],
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("cannot read policy file missing.yaml"));
}

#[test]
fn other_commands_refuse_a_broken_policy_with_locations() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "gitops.yaml",
        "registry: x\nimages: [{name: a}]\nenvironments:\n  dev: {branch: dev, tag_prefix: dev, overlay: a, replicas: -1}\n",
    );
    let out = gitops(
        dir.path(),
        &["tag", "--env", "dev", "--sha", super::cli_plan::SHA],
        &[],
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("gitops.yaml:4:"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("environments.dev.replicas: invalid type: integer '-1', expected u32"),
        "{}",
        out.stderr
    );
}

#[test]
fn explain_fills_in_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = gitops(dir.path(), &["policy", "explain"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with("# Effective policy from <embedded default>")
    );
    // What explain prints is itself a valid policy.
    write(dir.path(), "gitops.yaml", &out.stdout);
    assert_eq!(gitops(dir.path(), &["policy", "check"], &[]).code, 0);
    let out = gitops(dir.path(), &["--format", "json", "policy", "explain"], &[]);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(
        json["environments"]["staging"]["promote_from"],
        "development"
    );
    assert_eq!(
        json["environments"]["production"]["approval"]["reviewers"],
        1
    );
}

#[test]
fn schema_is_json_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = gitops(dir.path(), &["policy", "schema"], &[]);
    assert_eq!(out.code, 0);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(
        json["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(json["additionalProperties"], false);
}

#[test]
fn policy_test_passes_on_the_example_and_diffs_failures() {
    let out = gitops(
        &example_dir(),
        &["policy", "test", "policy-tests.yaml"],
        &[],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("7 passed, 0 failed"));
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "cases.yaml",
        "cases:
  - name: dev merge deploys
    event: { branch: dev, sha: 860c1904a1ce19322e91ac35af1ab07466440c37, time: '2025-12-03T12:00:00Z' }
    expect: { environment: development, tags: [dev-860c190-20251203-120000, dev-latest] }
  - name: main deploys without approval (wrong on purpose)
    event: { branch: main }
    expect: { approval: false, stages: [build, deploy] }
",
    );
    let out = gitops(dir.path(), &["policy", "test", "cases.yaml"], &[]);
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(out.stdout);
    let out = gitops(
        dir.path(),
        &["--format", "json", "policy", "test", "cases.yaml"],
        &[],
    );
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(
        (json["passed"].as_u64(), json["failed"].as_u64()),
        (Some(1), Some(1))
    );
    write(
        dir.path(),
        "bad.yaml",
        "cases:\n  - name: x\n    evnt: {}\n",
    );
    let out = gitops(dir.path(), &["policy", "test", "bad.yaml"], &[]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("bad.yaml:3:5:"), "{}", out.stderr);
}

#[test]
fn help_texts() {
    let dir = tempfile::tempdir().expect("tempdir");
    for cmd in [
        &["plan", "--help"][..],
        &["tag", "--help"],
        &["policy", "--help"],
    ] {
        let out = gitops(dir.path(), cmd, &[("COLUMNS", "100")]);
        assert_eq!(out.code, 0);
        insta::assert_snapshot!(format!("help_{}", cmd[0]), out.stdout);
    }
}
