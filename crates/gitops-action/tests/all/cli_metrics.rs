//! `gitops metrics` against a real git repository holding a synthetic deploy ledger with known
//! answers (deploy commits with trailers, source commits for lead time).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{DateTime, TimeZone, Utc};
use gitops_core::ledger::{DeployKind, DeployMessage, LedgerImage, render_message};
use serde_json::Value;

/// The end of the window every test uses (`--until`).
pub const UNTIL: &str = "2026-11-29T12:00:00Z";

/// Runs the `gitops` binary in `dir` with a clean environment for its own variables.
pub fn run_gitops(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_gitops"))
        .current_dir(dir)
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITOPS_FORMAT")
        .env_remove("GITOPS_POLICY")
        .output();
    match output {
        Ok(output) => output,
        Err(err) => panic!("cannot run gitops: {err}"),
    }
}

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .unwrap_or_default()
}

/// A repository with a synthetic ledger on `main` and source commits on `app`.
pub struct LedgerRepo {
    /// Keeps the folder alive.
    pub dir: tempfile::TempDir,
}

impl LedgerRepo {
    /// Path of the repository.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn commit(
    repo: &git2::Repository,
    branch: &str,
    message: &str,
    time: DateTime<Utc>,
) -> Result<git2::Oid, git2::Error> {
    let refname = format!("refs/heads/{branch}");
    let parent = repo
        .refname_to_id(&refname)
        .ok()
        .and_then(|id| repo.find_commit(id).ok());
    let blob = repo.blob(message.as_bytes())?;
    let mut builder = repo.treebuilder(None)?;
    builder.insert("change.txt", blob, 0o100_644)?;
    let tree = repo.find_tree(builder.write()?)?;
    let sig = git2::Signature::new(
        "gitops-bot",
        "gitops-bot@example.com",
        &git2::Time::new(time.timestamp(), 0),
    )?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(Some(&refname), &sig, &sig, message, &tree, &parents)
}

fn deploy_message(
    env: &str,
    kind: DeployKind,
    source: Option<&str>,
    rollback_of: Option<&str>,
) -> String {
    let message = DeployMessage {
        environment: env.to_owned(),
        kind,
        images: vec![LedgerImage::from_reference(
            "backend",
            "registry.example.com/acme/backend:prod-abc1234-20261101-100000@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        )],
        source_commit: source.map(str::to_owned),
        rollback_of: rollback_of.map(str::to_owned),
    };
    match render_message("deploy({env}): {images}", &message) {
        Ok(text) => text,
        Err(err) => panic!("cannot render a ledger message: {err}"),
    }
}

/// Builds the ledger. Known answers for production (window ending [`UNTIL`], 90 days):
/// 4 deployments (3 deploys + 1 hotfix), 2 failed (d2 rolled back after 45m, d3 hotfixed
/// after 7d): change failure rate 0.5, time to restore median (2700 + 604800) / 2 = 303750 s;
/// lead times 2h, 24h, 12h, 1h: median (7200 + 43200) / 2 = 25200 s.
pub fn ledger_repo() -> LedgerRepo {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => panic!("cannot create a temporary folder: {err}"),
    };
    let build = || -> Result<(), git2::Error> {
        let repo = git2::Repository::init(dir.path())?;
        let sources: Vec<(String, DateTime<Utc>)> = [
            at(2026, 11, 2, 8, 0),
            at(2026, 11, 8, 10, 0),
            at(2026, 11, 15, 22, 0),
            at(2026, 11, 23, 9, 0),
        ]
        .iter()
        .enumerate()
        .map(|(i, &time)| {
            commit(&repo, "app", &format!("feat: change {i}"), time)
                .map(|id| (id.to_string(), time))
        })
        .collect::<Result<_, _>>()?;
        let src = |i: usize| Some(sources[i].0.as_str());
        let minutes = |m: i64| chrono::Duration::minutes(m);
        // Development gets every change 10 minutes after it is committed, plus one whose
        // source commit is not in this repository (no lead-time sample).
        for (i, (_, time)) in sources.iter().enumerate() {
            commit(
                &repo,
                "main",
                &deploy_message("development", DeployKind::Deploy, src(i), None),
                *time + minutes(10),
            )?;
        }
        commit(
            &repo,
            "main",
            &deploy_message(
                "development",
                DeployKind::Deploy,
                Some("0123456789abcdef0123456789abcdef01234567"),
                None,
            ),
            at(2026, 11, 24, 9, 0),
        )?;
        commit(&repo, "main", "docs: not a deploy", at(2026, 11, 3, 9, 0))?;
        commit(
            &repo,
            "main",
            &deploy_message("production", DeployKind::Deploy, src(0), None),
            at(2026, 11, 2, 10, 0),
        )?;
        let d2 = commit(
            &repo,
            "main",
            &deploy_message("production", DeployKind::Deploy, src(1), None),
            at(2026, 11, 9, 10, 0),
        )?;
        commit(
            &repo,
            "main",
            &deploy_message(
                "production",
                DeployKind::Rollback,
                src(0),
                Some(&d2.to_string()),
            ),
            at(2026, 11, 9, 10, 45),
        )?;
        commit(
            &repo,
            "main",
            &deploy_message("production", DeployKind::Deploy, src(2), None),
            at(2026, 11, 16, 10, 0),
        )?;
        commit(
            &repo,
            "main",
            &deploy_message("production", DeployKind::Hotfix, src(3), None),
            at(2026, 11, 23, 10, 0),
        )?;
        Ok(())
    };
    if let Err(err) = build() {
        panic!("cannot build the ledger repository: {err}");
    }
    LedgerRepo { dir }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "gitops failed: {:?}\nstdout: {}\nstderr: {}",
        output.status,
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `gitops metrics --format json` on the ledger.
pub fn metrics_json(repo: &LedgerRepo, cwd: &Path, extra: &[&str]) -> Value {
    let repo_path = repo.path().display().to_string();
    let mut args = vec![
        "metrics",
        "--gitops-repo",
        &repo_path,
        "--until",
        UNTIL,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let output = run_gitops(cwd, &args);
    assert_success(&output);
    match serde_json::from_slice(&output.stdout) {
        Ok(value) => value,
        Err(err) => panic!("stdout is not JSON ({err}): {}", stdout(&output)),
    }
}

fn env<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["environments"]
        .as_array()
        .and_then(|envs| envs.iter().find(|e| e["environment"] == name))
        .unwrap_or(&Value::Null)
}

fn scratch() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => panic!("cannot create a temporary folder: {err}"),
    }
}

#[test]
fn json_has_the_known_answers() {
    let repo = ledger_repo();
    let cwd = scratch();
    let report = metrics_json(&repo, cwd.path(), &[]);
    assert_eq!(report["bands"]["source"], "DORA 2024");
    assert_eq!(report["window"]["end"], "2026-11-29T12:00:00Z");
    let names: Vec<&str> = report["environments"]
        .as_array()
        .map(|envs| {
            envs.iter()
                .filter_map(|e| e["environment"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(names, vec!["development", "production"], "policy order");

    let prod = env(&report, "production");
    assert_eq!(prod["deployment_frequency"]["deployments"], 4);
    assert_eq!(prod["rollbacks"], 1);
    assert_eq!(prod["hotfixes"], 1);
    assert_eq!(prod["change_failure_rate"]["failures"], 2);
    assert_eq!(prod["change_failure_rate"]["rate"], 0.5);
    assert_eq!(prod["time_to_restore"]["median_seconds"], 303_750.0);
    assert_eq!(prod["time_to_restore"]["tier"], "low");
    assert_eq!(prod["lead_time"]["samples"], 4);
    assert_eq!(prod["lead_time"]["median_seconds"], 25_200.0);
    assert_eq!(prod["lead_time"]["tier"], "elite");
    assert_eq!(prod["incidents"][0]["cause"], "rollback");
    assert_eq!(prod["incidents"][0]["seconds"], 2_700);
    assert_eq!(prod["incidents"][1]["cause"], "hotfix");

    let dev = env(&report, "development");
    assert_eq!(dev["deployment_frequency"]["deployments"], 5);
    // The deploy whose source commit is elsewhere gives no lead-time sample.
    assert_eq!(dev["lead_time"]["samples"], 4);
    assert_eq!(dev["lead_time"]["median_seconds"], 600.0);
    assert_eq!(dev["change_failure_rate"]["rate"], 0.0);
}

#[test]
fn table_and_prometheus_text() {
    let repo = ledger_repo();
    let cwd = scratch();
    let repo_path = repo.path().display().to_string();
    let base = ["metrics", "--gitops-repo", &repo_path, "--until", UNTIL];
    let table = run_gitops(cwd.path(), &base);
    assert_success(&table);
    insta::assert_snapshot!("metrics_table", stdout(&table));
    let mut args = base.to_vec();
    args.push("--prometheus");
    let prom = run_gitops(cwd.path(), &args);
    assert_success(&prom);
    insta::assert_snapshot!("metrics_prometheus", stdout(&prom));
}

#[test]
fn one_environment_without_deploys_and_older_bands() {
    let repo = ledger_repo();
    let cwd = scratch();
    let report = metrics_json(
        &repo,
        cwd.path(),
        &["--env", "staging", "--dora-year", "2023", "--since", "30d"],
    );
    assert_eq!(report["bands"]["source"], "DORA 2023");
    let envs = report["environments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(envs.len(), 1);
    assert_eq!(envs[0]["environment"], "staging");
    assert_eq!(envs[0]["deployment_frequency"]["deployments"], 0);
    assert_eq!(envs[0]["deployment_frequency"]["class"], Value::Null);
    assert_eq!(envs[0]["change_failure_rate"]["rate"], Value::Null);
}

#[test]
fn a_window_before_the_ledger_sees_nothing() {
    let repo = ledger_repo();
    let cwd = scratch();
    let repo_path = repo.path().display().to_string();
    let output = run_gitops(
        cwd.path(),
        &[
            "metrics",
            "--gitops-repo",
            &repo_path,
            "--until",
            "2026-10-01",
            "--since",
            "7d",
            "--format",
            "json",
        ],
    );
    assert_success(&output);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    assert_eq!(report["window"]["end"], "2026-10-01T23:59:59Z");
    for env in report["environments"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        assert_eq!(env["deployment_frequency"]["deployments"], 0);
    }
}

#[test]
fn custom_bands_file() {
    let repo = ledger_repo();
    let cwd = scratch();
    let bands = "source: team targets 2026\nyear: 2026\ndeployment_frequency: { elite_min_per_deploy_day: 1, high_at_least: weekly, medium_at_least: monthly }\nlead_time: { elite_below: 1h, high_below: 1d, medium_below: 7d }\nchange_failure_rate: { elite_percent: 1, high_percent: 5, medium_percent: 10, low_percent: 50 }\ntime_to_restore: { elite_below: 10m, high_below: 1h, medium_below: 1d }\n";
    let path = cwd.path().join("bands.yaml");
    if let Err(err) = std::fs::write(&path, bands) {
        panic!("cannot write {}: {err}", path.display());
    }
    let report = metrics_json(&repo, cwd.path(), &["--bands", "bands.yaml"]);
    assert_eq!(report["bands"]["source"], "team targets 2026");
    // 7h median lead time: not elite (< 1h) but high (< 1d) under these bands.
    assert_eq!(env(&report, "production")["lead_time"]["tier"], "high");
}

#[test]
fn errors_are_clear_and_exit_2() {
    let cwd = scratch();
    let not_repo = run_gitops(cwd.path(), &["metrics", "--gitops-repo", "no-such-folder"]);
    assert_eq!(not_repo.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&not_repo.stderr);
    assert!(
        stderr.contains("no-such-folder is not a git repository"),
        "{stderr}"
    );

    let repo = ledger_repo();
    let repo_path = repo.path().display().to_string();
    let both = run_gitops(
        cwd.path(),
        &[
            "metrics",
            "--gitops-repo",
            &repo_path,
            "--prometheus",
            "--format",
            "json",
        ],
    );
    assert_eq!(both.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&both.stderr).contains("choose one"));

    let too_long = run_gitops(
        cwd.path(),
        &[
            "metrics",
            "--gitops-repo",
            &repo_path,
            "--since",
            "99999999999w",
        ],
    );
    assert_eq!(too_long.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&too_long.stderr).contains("longer than 100 years"));

    let bad_until = run_gitops(cwd.path(), &["metrics", "--until", "yesterday"]);
    assert_eq!(bad_until.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_until.stderr).contains("RFC 3339"));

    let no_branch = run_gitops(
        cwd.path(),
        &["metrics", "--gitops-repo", &repo_path, "--branch", "nope"],
    );
    assert_eq!(no_branch.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_branch.stderr).contains("none of the branches nope"));
}

/// The HTML report written by `--html` (used by the Chromium test).
pub fn html_report(repo: &LedgerRepo, dir: &Path) -> (PathBuf, Value) {
    let path = dir.join("report.html");
    let path_text = path.display().to_string();
    let report = metrics_json(repo, dir, &["--html", &path_text]);
    (path, report)
}

#[test]
fn html_file_is_written_with_the_json_numbers() {
    let repo = ledger_repo();
    let cwd = scratch();
    let (path, report) = html_report(&repo, cwd.path());
    let html = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        html.contains("data-metric=\"production.change_failure_rate.rate\" data-value=\"0.5\"")
    );
    assert_eq!(
        report["environments"][1]["change_failure_rate"]["rate"],
        0.5
    );
    let leftovers: Vec<_> = std::fs::read_dir(cwd.path())
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(
        leftovers.len(),
        1,
        "only report.html, no temporary files: {leftovers:?}"
    );
}

/// docs/grafana-dashboard.json only queries metrics that `--prometheus` writes, and every
/// metric written has a panel.
#[test]
fn grafana_dashboard_matches_the_prometheus_metrics() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/grafana-dashboard.json");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let dashboard: Value = match serde_json::from_str(&text) {
        Ok(value) => value,
        Err(err) => panic!("{} is not JSON: {err}", path.display()),
    };
    let mut queried = std::collections::BTreeSet::new();
    let names = regex::Regex::new(r"gitops_dora_[a-z0-9_]+").unwrap_or_else(|e| panic!("{e}"));
    for panel in dashboard["panels"].as_array().cloned().unwrap_or_default() {
        for target in panel["targets"].as_array().cloned().unwrap_or_default() {
            let expr = target["expr"].as_str().unwrap_or_default().to_owned();
            queried.extend(names.find_iter(&expr).map(|m| m.as_str().to_owned()));
        }
    }
    let repo = ledger_repo();
    let cwd = scratch();
    let repo_path = repo.path().display().to_string();
    let prom = run_gitops(
        cwd.path(),
        &[
            "metrics",
            "--gitops-repo",
            &repo_path,
            "--until",
            UNTIL,
            "--prometheus",
        ],
    );
    assert_success(&prom);
    let exposed: std::collections::BTreeSet<String> = stdout(&prom)
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert_eq!(queried, exposed, "dashboard queries vs exposed metrics");
}

/// `--from github`: deployments and their latest status from a fake GitHub (wiremock, shaped
/// like the REST API's deployments and statuses). Pending deployments are left out; failures
/// count; restoring runs to the next successful deployment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_github_deployments() {
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    let deployments = serde_json::json!([
        {"id": 4, "sha": "d4", "ref": "main", "environment": "production", "created_at": "2026-11-20T12:00:00Z"},
        {"id": 3, "sha": "d3", "ref": "main", "environment": "production", "created_at": "2026-11-10T11:00:00Z"},
        {"id": 2, "sha": "d2", "ref": "main", "environment": "production", "created_at": "2026-11-10T10:00:00Z"},
        {"id": 1, "sha": "d1", "ref": "main", "environment": "production", "created_at": "2026-11-01T10:00:00Z"},
        {"id": 9, "sha": "d0", "ref": "main", "environment": "production", "created_at": "2026-01-01T10:00:00Z"}
    ]);
    Mock::given(method("GET"))
        .and(path("/repos/acme/shop/deployments"))
        .and(query_param("environment", "production"))
        .and(header("authorization", "Bearer test-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(deployments))
        .mount(&server)
        .await;
    for (id, state) in [
        (1, "inactive"),
        (2, "failure"),
        (3, "success"),
        (4, "in_progress"),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/repos/acme/shop/deployments/{id}/statuses")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!([{"id": id * 10, "state": state}])),
            )
            .mount(&server)
            .await;
    }
    let uri = server.uri();
    let output = tokio::task::spawn_blocking(move || {
        let cwd = scratch();
        Command::new(env!("CARGO_BIN_EXE_gitops"))
            .current_dir(cwd.path())
            .args([
                "metrics",
                "--from",
                "github",
                "--env",
                "production",
                "--github-repo",
                "acme/shop",
                "--github-api-url",
                &uri,
                "--until",
                UNTIL,
                "--format",
                "json",
            ])
            .env("GITHUB_TOKEN", "test-token")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_REPOSITORY")
            .output()
    })
    .await;
    let output = match output {
        Ok(Ok(output)) => output,
        other => panic!("cannot run gitops: {other:?}"),
    };
    assert_success(&output);
    assert!(!stdout(&output).contains("test-token"));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let prod = env(&report, "production");
    // 1 (success), 2 (failed), 3 (success); 4 is still running, 9 is outside the window.
    assert_eq!(prod["change_failure_rate"]["deployments"], 3);
    assert_eq!(prod["deployment_frequency"]["deployments"], 2);
    assert_eq!(prod["change_failure_rate"]["failures"], 1);
    assert_eq!(prod["incidents"][0]["cause"], "deploy-failed");
    assert_eq!(prod["incidents"][0]["restored_by"], "github-deployment-3");
    assert_eq!(prod["time_to_restore"]["median_seconds"], 3600.0);
}
