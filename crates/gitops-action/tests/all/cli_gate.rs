//! `gitops gate` end to end: real report files, the step summary, annotations, outputs,
//! JSON, exit codes, and SonarQube through a wiremock fake of its Web API.

use std::path::{Path, PathBuf};
use std::process::Command;

use wiremock::matchers::{basic_auth, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// What a run of the binary produced.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Variables a developer's shell or the CI runner may set that would change what the binary
/// does; every test starts without them.
const SCRUBBED: &[&str] = &[
    "GITHUB_ACTIONS",
    "GITHUB_OUTPUT",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_ENV",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GITHUB_REPOSITORY",
    "GITHUB_API_URL",
    "GITHUB_SERVER_URL",
    "GITHUB_RUN_ID",
    "SONAR_TOKEN",
    "ARGOCD_TOKEN",
    "GITOPS_POLICY",
    "GITOPS_FORMAT",
    "GITOPS_GITHUB_MAX_WAIT",
];

/// Runs `gitops` in `dir` with `envs` on top of a scrubbed environment.
pub fn gitops(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gitops"));
    cmd.current_dir(dir).args(args);
    for var in SCRUBBED {
        cmd.env_remove(var);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run gitops: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../gitops-core/tests/all/fixtures/gates")
}

/// A temporary working directory holding copies of the named fixtures.
fn workdir(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    for name in names {
        std::fs::copy(fixtures().join(name), dir.path().join(name))
            .unwrap_or_else(|e| panic!("copy {name}: {e}"));
    }
    dir
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("write {name}: {e}"));
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Allow-list entries far in the future and long past, so the real clock cannot flip them.
const ALLOWLIST: &str = "vulnerabilities:\n  - id: CVE-2023-45853\n    reason: minizip is not shipped; Debian will not fix\n    expires: 2999-12-31\n  - id: CVE-2024-6387\n    reason: client binary only\n    expires: 2000-01-01\n";

const MIXED: &[&str] = &[
    "trivy-critical.json",
    "lcov-50.info",
    "cobertura-50.01.xml",
    "gitleaks-findings.json",
    "junit-pass.xml",
    "junit-fail.xml",
];

fn mixed_args() -> Vec<&'static str> {
    vec![
        "gate",
        "--trivy",
        "trivy-critical.json",
        "--allowlist",
        "allowlist.yaml",
        "--coverage",
        "lcov-50.info",
        "--coverage",
        "cobertura-50.01.xml",
        "--gitleaks",
        "gitleaks-findings.json",
        "--junit",
        "junit-pass.xml",
        "junit-fail.xml",
    ]
}

#[test]
fn human_output_lists_each_gate_and_exits_1() {
    let dir = workdir(MIXED);
    write(dir.path(), "allowlist.yaml", ALLOWLIST);
    let run = gitops(dir.path(), &mixed_args(), &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    insta::assert_snapshot!("gate_human_mixed", run.stdout);
}

#[test]
fn step_summary_annotations_and_outputs_inside_actions() {
    let dir = workdir(MIXED);
    write(dir.path(), "allowlist.yaml", ALLOWLIST);
    let summary = dir.path().join("summary.md");
    let output = dir.path().join("output.txt");
    let run = gitops(
        dir.path(),
        &mixed_args(),
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap_or_default()),
            ("GITHUB_OUTPUT", output.to_str().unwrap_or_default()),
        ],
    );
    assert_eq!(run.code, 1);
    let markdown = read(&summary);
    insta::assert_snapshot!("gate_step_summary_mixed", markdown);
    // Located findings become annotations on the file and line.
    assert!(
        run.stderr.contains("::error file=deploy/settings.py,line=14,title=secrets gate failed::secret found by rule aws-access-token"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "::error file=tests/integration/incident.spec.ts,line=44,title=tests gate failed::"
        ),
        "{}",
        run.stderr
    );
    // Gates without locations get one annotation naming the report.
    assert!(
        run.stderr
            .contains("::error title=coverage gate failed::coverage 50.00%"),
        "{}",
        run.stderr
    );
    let outputs = read(&output);
    assert!(outputs.contains("passed=false\n"), "{outputs}");
    assert!(outputs.contains("report={\"passed\":false"), "{outputs}");
    // The secrets in the gitleaks report reach no output.
    for secret in [
        "AKIAZ7QXTESTLEAKED42",
        "squ_4f7d1b2e9c8a6f5e3d2c1b0a9f8e7d6c5b4a3f2e",
    ] {
        for text in [&run.stdout, &run.stderr, &markdown, &outputs] {
            assert!(!text.contains(secret), "secret leaked: {text}");
        }
    }
}

#[test]
fn json_output_and_passing_run() {
    let dir = workdir(&[
        "trivy-clean.json",
        "lcov-50.01.info",
        "gitleaks-empty.json",
        "junit-pass.xml",
    ]);
    let run = gitops(
        dir.path(),
        &[
            "--format",
            "json",
            "gate",
            "--trivy",
            "trivy-clean.json",
            "--coverage",
            "lcov-50.01.info",
            "--gitleaks",
            "gitleaks-empty.json",
            "--junit",
            "junit-pass.xml",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let json: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    assert_eq!(json["passed"], true);
    let gates: Vec<&str> = json["gates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["gate"].as_str())
        .collect();
    assert_eq!(gates, ["vulnerabilities", "coverage", "secrets", "tests"]);
    assert_eq!(
        json["gates"][1]["summary"],
        "coverage 50.01%, 5001/10000 lines (must be > 50%)"
    );
}

#[test]
fn missing_and_malformed_reports_fail_closed_naming_the_file() {
    let dir = workdir(&["cobertura-malformed.xml"]);
    let run = gitops(
        dir.path(),
        &[
            "gate",
            "--trivy",
            "no-such-trivy.json",
            "--coverage",
            "cobertura-malformed.xml",
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("FAIL vulnerabilities  report unusable (no-such-trivy.json)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("no-such-trivy.json: cannot read the report"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("cobertura-malformed.xml: not a valid Cobertura XML report: malformed XML"),
        "{}",
        run.stdout
    );

    let run = gitops(dir.path(), &["gate"], &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no report given"), "{}", run.stderr);
}

#[test]
fn broken_allowlist_fails_the_vulnerability_gate() {
    let dir = workdir(&["trivy-clean.json", "allowlist-bad.yaml"]);
    let run = gitops(
        dir.path(),
        &[
            "gate",
            "--trivy",
            "trivy-clean.json",
            "--allowlist",
            "allowlist-bad.yaml",
        ],
        &[],
    );
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("allowlist-bad.yaml: not a valid allow-list report: entry 'CVE-2023-45853' needs a non-empty id and reason"), "{}", run.stdout);
}

#[test]
fn policy_threshold_and_disabled_gates_are_honoured() {
    let dir = workdir(&["trivy-lockfile.json", "lcov-49.99.info"]);
    let policy = gitops_core::policy::DEFAULT_POLICY_YAML
        .replace(
            "coverage: { min_percent: 50 }",
            "coverage: { enabled: false }",
        )
        .replace(
            "vulnerabilities: { fail_on: CRITICAL }",
            "vulnerabilities: { fail_on: HIGH }",
        );
    write(dir.path(), "gitops.yaml", &policy);
    let run = gitops(
        dir.path(),
        &[
            "gate",
            "--trivy",
            "trivy-lockfile.json",
            "--coverage",
            "lcov-49.99.info",
        ],
        &[("GITHUB_ACTIONS", "true")],
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("PASS coverage         gate disabled by the policy"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("FAIL vulnerabilities  1 vulnerability at or above HIGH"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("::error file=Cargo.lock,title=vulnerabilities gate failed::GHSA-c827-hfw6-qwvm (HIGH) in openssl"), "{}", run.stderr);
}

const SONAR_TOKEN: &str = "squ_0123456789abcdeffedcba9876543210cafe0001";

fn report_task(dir: &Path, server: &str) {
    write(
        dir,
        "report-task.txt",
        &format!(
            "projectKey=ai-incident-assistant\nserverUrl={server}\nserverVersion=10.6.0.92116\ndashboardUrl={server}/dashboard?id=ai-incident-assistant\nceTaskId=AZNeXkF1\nceTaskUrl={server}/api/ce/task?id=AZNeXkF1\n"
        ),
    );
}

fn ce_task(status: &str) -> serde_json::Value {
    serde_json::json!({"task": {
        "id": "AZNeXkF1", "type": "REPORT", "componentKey": "ai-incident-assistant",
        "status": status, "analysisId": if status == "SUCCESS" { Some("AZNeYb42") } else { None },
        "submittedAt": "2026-11-29T10:15:00+0000", "executionTimeMs": 5213
    }})
}

async fn sonar(gate_status: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/ce/task"))
        .and(query_param("id", "AZNeXkF1"))
        .and(basic_auth(SONAR_TOKEN, ""))
        .respond_with(ResponseTemplate::new(200).set_body_json(ce_task("IN_PROGRESS")))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/ce/task"))
        .and(basic_auth(SONAR_TOKEN, ""))
        .respond_with(ResponseTemplate::new(200).set_body_json(ce_task("SUCCESS")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/qualitygates/project_status"))
        .and(query_param("analysisId", "AZNeYb42"))
        .and(basic_auth(SONAR_TOKEN, ""))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"projectStatus": {
            "status": gate_status, "ignoredConditions": false,
            "conditions": [
                {"status": if gate_status == "ERROR" { "ERROR" } else { "OK" }, "metricKey": "new_coverage", "comparator": "LT", "errorThreshold": "80", "actualValue": "61.3"},
                {"status": "OK", "metricKey": "new_violations", "comparator": "GT", "errorThreshold": "0", "actualValue": "0"}
            ],
            "period": {"mode": "PREVIOUS_VERSION", "date": "2026-11-01T09:00:00+0000"}
        }})))
        .mount(&server)
        .await;
    server
}

fn run_sonar(dir: &Path) -> Run {
    gitops(
        dir,
        &[
            "gate",
            "--sonar-report",
            "report-task.txt",
            "--sonar-poll-seconds",
            "0",
        ],
        &[("SONAR_TOKEN", SONAR_TOKEN)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sonar_polls_the_task_then_reads_the_gate() {
    for (status, code) in [("OK", 0), ("ERROR", 1), ("NONE", 1)] {
        let server = sonar(status).await;
        let dir = workdir(&[]);
        report_task(dir.path(), &server.uri());
        let path = dir.path().to_path_buf();
        let run = tokio::task::spawn_blocking(move || run_sonar(&path))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(run.code, code, "{status}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stdout
                .contains(&format!("sonarqube        quality gate {status}")),
            "{}",
            run.stdout
        );
        assert!(!run.stdout.contains(SONAR_TOKEN) && !run.stderr.contains(SONAR_TOKEN));
        if status == "ERROR" {
            assert!(
                run.stdout
                    .contains("new_coverage ERROR: 61.3 (threshold LT 80)"),
                "{}",
                run.stdout
            );
        }
        if status == "NONE" {
            assert!(
                run.stdout.contains("no quality gate is set on the server"),
                "{}",
                run.stdout
            );
        }
        server.verify().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sonar_none_passes_when_the_policy_allows_it() {
    let server = sonar("NONE").await;
    let dir = workdir(&[]);
    report_task(dir.path(), &server.uri());
    write(
        dir.path(),
        "gitops.yaml",
        &gitops_core::policy::DEFAULT_POLICY_YAML.replace(
            "sonarqube: { enabled: true }",
            "sonarqube: { enabled: true, allow_none: true }",
        ),
    );
    let path = dir.path().to_path_buf();
    let run = tokio::task::spawn_blocking(move || run_sonar(&path))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sonar_refusals_fail_the_gate_and_unreachable_exits_3() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/ce/task"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"errors": [{"msg": "Authentication required"}]})),
        )
        .mount(&server)
        .await;
    let dir = workdir(&[]);
    report_task(dir.path(), &server.uri());
    let path = dir.path().to_path_buf();
    let run = tokio::task::spawn_blocking(move || run_sonar(&path))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("refused the token (401)"),
        "{}",
        run.stdout
    );

    // A port nothing listens on: every attempt is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9);
    report_task(dir.path(), &format!("http://127.0.0.1:{closed}"));
    let path = dir.path().to_path_buf();
    let run = tokio::task::spawn_blocking(move || run_sonar(&path))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("is unreachable after 3 attempts"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("FAIL sonarqube"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sonar_analysis_still_running_at_the_policy_timeout_fails_the_gate() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/ce/task"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ce_task("PENDING")))
        .mount(&server)
        .await;
    let dir = workdir(&[]);
    report_task(dir.path(), &server.uri());
    write(
        dir.path(),
        "gitops.yaml",
        &gitops_core::policy::DEFAULT_POLICY_YAML.replace(
            "sonarqube: { enabled: true }",
            "sonarqube: { enabled: true, timeout: 1s }",
        ),
    );
    let path = dir.path().to_path_buf();
    let run = tokio::task::spawn_blocking(move || {
        gitops(
            &path,
            &[
                "gate",
                "--sonar-report",
                "report-task.txt",
                "--sonar-poll-seconds",
                "1",
            ],
            &[],
        )
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("was still PENDING when the 1s timeout ran out (gates.sonarqube.timeout)"),
        "{}",
        run.stdout
    );
}
