//! `gitops plan` as a process: flags, the GitHub Actions environment (outputs, step summary),
//! the local checkout, bad input and exit codes; plus the bundled example rendering with
//! `kubectl kustomize`.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const SHA: &str = "860c1904a1ce19322e91ac35af1ab07466440c37";

/// What one run of the binary produced.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `gitops` in `dir` with a scrubbed environment plus `env`.
pub fn gitops(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gitops"));
    cmd.current_dir(dir).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("GITHUB_")
            || key.starts_with("GITOPS_")
            || key.starts_with("INPUT_")
            || key == "SOURCE_DATE_EPOCH"
        {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("the gitops binary runs");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The bundled example application.
pub fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ai-incident-assistant")
}

fn empty_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

#[test]
fn plan_merge_to_dev_from_flags() {
    let dir = empty_dir();
    let out = gitops(
        dir.path(),
        &[
            "plan",
            "--event",
            "push",
            "--branch",
            "dev",
            "--sha",
            SHA,
            "--time",
            "2025-12-03T12:00:00Z",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn plan_json_has_a_boolean_per_stage() {
    let dir = empty_dir();
    let out = gitops(
        dir.path(),
        &[
            "--format",
            "json",
            "plan",
            "--event",
            "pull_request",
            "--branch",
            "feature/x",
            "--base",
            "dev",
            "--sha",
            SHA,
            "--time",
            "2025-12-03T12:00:00Z",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    let stages = json["stages"].as_object().expect("stages");
    assert_eq!(stages.len(), 10);
    assert!(stages.values().all(serde_json::Value::is_boolean));
    assert_eq!(json["stages"]["build"], false);
    assert_eq!(json["base_environment"], "development");
}

#[test]
fn plan_in_github_actions_writes_outputs_and_summary() {
    let dir = empty_dir();
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        format!(
            r#"{{"number": 9, "pull_request": {{"head": {{"sha": "{SHA}", "ref": "hotfix/critical-bug"}}, "base": {{"ref": "main"}}}}}}"#
        ),
    )
    .expect("write event");
    let output = dir.path().join("output");
    let summary = dir.path().join("summary");
    let out = gitops(
        dir.path(),
        &["plan", "--time", "2025-12-03T12:00:00Z"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_REF", "refs/pull/9/merge"),
            ("GITHUB_REF_NAME", "9/merge"),
            ("GITHUB_SHA", "1111111111111111111111111111111111111111"),
            ("GITHUB_EVENT_PATH", event.to_str().expect("utf-8")),
            ("GITHUB_OUTPUT", output.to_str().expect("utf-8")),
            ("GITHUB_STEP_SUMMARY", summary.to_str().expect("utf-8")),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let outputs = std::fs::read_to_string(&output).expect("outputs written");
    for line in [
        "secret_scan=true",
        "build=false",
        "deploy=false",
        "flow=pull_request",
        "environment=",
        "approval_required=false",
    ] {
        assert!(
            outputs.lines().any(|l| l == line),
            "{line} missing in {outputs}"
        );
    }
    assert!(
        outputs.contains(&format!("sha={SHA}")),
        "PR head sha, not the merge commit"
    );
    let plan_line = outputs
        .lines()
        .find_map(|l| l.strip_prefix("plan="))
        .expect("compact plan JSON");
    let plan: serde_json::Value = serde_json::from_str(plan_line).expect("JSON");
    assert_eq!(plan["event"]["base"], "main");
    let summary = std::fs::read_to_string(&summary).expect("summary written");
    assert!(summary.contains("| build | — no |"), "{summary}");
    assert!(summary.starts_with("### gitops plan: pull_request (860c190)"));
}

#[test]
fn plan_in_actions_writes_multi_line_tags_with_a_heredoc() {
    let dir = empty_dir();
    let output = dir.path().join("output");
    let out = gitops(
        dir.path(),
        &["plan", "--time", "2025-12-03T12:00:00Z"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_REF", "refs/heads/staging"),
            ("GITHUB_SHA", SHA),
            ("GITHUB_OUTPUT", output.to_str().expect("utf-8")),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(&output).expect("outputs");
    let start = text.find("tags<<").expect("heredoc");
    let rest = &text[start..];
    let delimiter = rest
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("tags<<"))
        .expect("delimiter");
    let body: Vec<&str> = rest
        .lines()
        .skip(1)
        .take_while(|l| *l != delimiter)
        .collect();
    assert_eq!(body, ["staging-860c190-20251203-120000", "staging-latest"]);
    assert!(text.contains("integration_tests=true") && text.contains("e2e_tests=true"));
}

#[test]
fn plan_from_the_local_checkout() {
    let dir = empty_dir();
    let run = |args: &[&str]| {
        let status = Command::new("git")
            .current_dir(dir.path())
            .args(args)
            .env("GIT_AUTHOR_DATE", "2025-12-03T12:00:00Z")
            .env("GIT_COMMITTER_DATE", "2025-12-03T12:00:00Z")
            .status()
            .expect("git runs (install the git package)");
        assert!(status.success(), "git {args:?}");
    };
    run(&["init", "-q", "-b", "staging"]);
    run(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "init",
    ]);
    let out = gitops(
        dir.path(),
        &["--format", "json", "plan", "--time", "2025-12-03T14:00:00Z"],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(json["environment"], "staging");
    assert_eq!(json["event"]["commit_time"], "2025-12-03T12:00:00Z");
}

#[test]
fn plan_bad_input_exits_2_with_one_clear_error() {
    let dir = empty_dir();
    let truncated = dir.path().join("event.json");
    std::fs::write(&truncated, r#"{"pull_request": {"head": "#).expect("write");
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            vec!["plan", "--branch", "dev", "--sha", "xyz1234"],
            vec![],
            "invalid commit sha 'xyz1234'",
        ),
        (
            vec!["plan", "--branch", "dev", "--sha", "860c19"],
            vec![],
            "at least 7 hexadecimal",
        ),
        (
            vec!["plan", "--event", "merge", "--branch", "dev", "--sha", SHA],
            vec![],
            "unsupported event 'merge'",
        ),
        (
            vec!["plan", "--branch", "dev", "--sha", SHA, "--time", "noon"],
            vec![],
            "expected RFC 3339",
        ),
        (
            vec!["plan"],
            vec![
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_EVENT_NAME", "pull_request"),
                ("GITHUB_REF", "refs/pull/1/merge"),
                ("GITHUB_SHA", SHA),
                ("GITHUB_EVENT_PATH", truncated.to_str().expect("utf-8")),
            ],
            "is not valid JSON",
        ),
        (
            vec!["plan"],
            vec![
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_EVENT_NAME", "pull_request"),
                ("GITHUB_REF", "refs/pull/1/merge"),
                ("GITHUB_SHA", SHA),
                ("GITHUB_EVENT_PATH", "/nonexistent/event.json"),
            ],
            "cannot read the event JSON",
        ),
        (vec!["plan"], vec![], "cannot read HEAD"),
    ];
    for (args, env, expected) in cases {
        let out = gitops(dir.path(), &args, &env);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"));
    }
}

#[test]
fn example_overlays_render_with_kubectl_kustomize() {
    let kubectl = Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output();
    assert!(
        kubectl.is_ok_and(|o| o.status.success()),
        "kubectl is required (install the kubectl package; scripts/test does)"
    );
    for (overlay, replicas, tag, namespace) in [
        ("dev", 1, "dev-latest", "dev"),
        ("staging", 2, "staging-latest", "staging"),
        ("production", 3, "prod-latest", "production"),
    ] {
        let dir = example_dir().join("infra/k8s/overlays").join(overlay);
        let out = Command::new("kubectl")
            .args(["kustomize"])
            .arg(&dir)
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let docs: Vec<serde_norway::Value> = serde_norway::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).expect("YAML document"))
            .collect();
        let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "Deployment").count(),
            2,
            "{kinds:?}"
        );
        assert_eq!(kinds.iter().filter(|k| **k == "Service").count(), 2);
        assert_eq!(kinds.iter().filter(|k| **k == "Ingress").count(), 1);
        for doc in &docs {
            assert_eq!(doc["metadata"]["namespace"].as_str(), Some(namespace));
            if doc["kind"].as_str() == Some("Deployment") {
                assert_eq!(doc["spec"]["replicas"].as_u64(), Some(replicas));
                let image = doc["spec"]["template"]["spec"]["containers"][0]["image"]
                    .as_str()
                    .expect("image");
                assert!(
                    image.starts_with("registry.digitalocean.com/ai-incident-assistant/")
                        && image.ends_with(&format!(":{tag}")),
                    "{image}"
                );
            }
        }
    }
    // The example's policy agrees with its overlays.
    let out = gitops(&example_dir(), &["policy", "check"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}
