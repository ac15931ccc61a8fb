//! `gitops github ...` against a wiremock fake of the GitHub REST API, following its
//! documented request and response shapes (pagination through `Link`, 403, 404, 422 and
//! rate limits). The token must never appear in the output.

use serde_json::{Value, json};
use wiremock::matchers::{bearer_token, body_partial_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::cli_gate::{Run, gitops};

const TOKEN: &str = "ghp_TESTtoken0123456789abcdefABCDEF012345";
const SHA: &str = "4f9c2d1e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e";

async fn github(args: Vec<String>, server: &MockServer, extra: Vec<(String, String)>) -> Run {
    let uri = server.uri();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut envs: Vec<(String, String)> = vec![
            ("GITHUB_TOKEN".into(), TOKEN.into()),
            ("GITHUB_API_URL".into(), uri),
            ("GITHUB_REPOSITORY".into(), "acme/app".into()),
            ("GITHUB_SERVER_URL".into(), "https://github.example".into()),
            ("GITHUB_RUN_ID".into(), "777".into()),
            ("GITOPS_GITHUB_MAX_WAIT".into(), "0".into()),
        ];
        envs.extend(extra);
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = gitops(dir.path(), &args, &envs);
        assert_no_token(&run);
        run
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

fn assert_no_token(run: &Run) {
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(TOKEN), "the token leaked: {text}");
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn deployment(id: u64, env: &str) -> Value {
    json!({
        "url": format!("https://api.github.com/repos/acme/app/deployments/{id}"),
        "id": id, "node_id": "DE_kwDOAbc", "sha": SHA, "ref": SHA, "task": "deploy",
        "payload": {}, "original_environment": env, "environment": env,
        "description": "gitops deploy", "creator": {"login": "github-actions[bot]", "id": 41898282},
        "created_at": "2026-11-29T10:20:00Z", "updated_at": "2026-11-29T10:20:00Z",
        "statuses_url": format!("https://api.github.com/repos/acme/app/deployments/{id}/statuses"),
        "repository_url": "https://api.github.com/repos/acme/app",
        "transient_environment": false, "production_environment": false
    })
}

fn status(id: u64, state: &str) -> Value {
    json!({"id": id, "node_id": "DES_kwDO", "state": state, "description": "", "environment": "staging",
        "creator": {"login": "github-actions[bot]"}, "created_at": "2026-11-29T10:21:00Z",
        "environment_url": "https://staging.yourdomain.com", "log_url": "https://github.example/acme/app/actions/runs/777"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_start_creates_the_deployment_and_an_in_progress_status() {
    let server = MockServer::start().await;
    // The first attempt is rate limited (secondary limit: 429 with retry-after).
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/deployments"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "0")
                .set_body_json(json!({"message": "You have exceeded a secondary rate limit."})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/deployments"))
        .and(bearer_token(TOKEN))
        .and(body_partial_json(json!({"ref": SHA, "environment": "staging", "auto_merge": false, "required_contexts": [], "production_environment": false})))
        .respond_with(ResponseTemplate::new(201).set_body_json(deployment(42, "staging")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/deployments/42/statuses"))
        .and(body_partial_json(json!({"state": "in_progress", "environment_url": "https://staging.yourdomain.com", "log_url": "https://github.example/acme/app/actions/runs/777"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(status(1, "in_progress")))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let output = dir.path().join("out.txt");
    let run = github(
        args(&[
            "github",
            "deployment",
            "start",
            "--env",
            "staging",
            "--ref",
            SHA,
        ]),
        &server,
        vec![("GITHUB_OUTPUT".into(), output.display().to_string())],
    )
    .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        "deployment 42 of 4f9c2d1 to staging: in_progress\n"
    );
    let outputs = std::fs::read_to_string(&output).unwrap_or_default();
    assert!(outputs.contains("deployment-id=42\n"), "{outputs}");
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_finish_marks_older_deployments_inactive_across_pages() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/deployments"))
        .and(query_param("environment", "staging"))
        .and(query_param("sha", SHA))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([deployment(42, "staging")])))
        .mount(&server)
        .await;
    let page2 = format!(
        "{}/repositories/99/deployments?environment=staging&per_page=100&page=2",
        server.uri()
    );
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/deployments"))
        .and(query_param("per_page", "100"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "link",
                    format!("<{page2}>; rel=\"next\", <{page2}>; rel=\"last\"").as_str(),
                )
                .set_body_json(json!([
                    deployment(42, "staging"),
                    deployment(41, "staging")
                ])),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repositories/99/deployments"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            deployment(40, "staging"),
            deployment(39, "staging"),
            deployment(38, "staging")
        ])))
        .expect(1)
        .mount(&server)
        .await;
    for (id, state) in [
        (41, "success"),
        (40, "failure"),
        (39, "inactive"),
        (38, "success"),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/repos/acme/app/deployments/{id}/statuses")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([status(id * 10, state)])))
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/deployments/42/statuses"))
        .and(body_partial_json(json!({"state": "success", "environment_url": "https://preview.example.com", "log_url": "https://github.example/acme/app/actions/runs/777"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(status(2, "success")))
        .expect(1)
        .mount(&server)
        .await;
    // 40 failed (never live), 39 is inactive: the walk stops there, 38 is not even read.
    for (id, times) in [(41, 1), (40, 0), (39, 0), (38, 0)] {
        Mock::given(method("POST"))
            .and(path(format!("/repos/acme/app/deployments/{id}/statuses")))
            .and(body_partial_json(json!({"state": "inactive"})))
            .respond_with(ResponseTemplate::new(201).set_body_json(status(id * 10 + 1, "inactive")))
            .expect(times)
            .mount(&server)
            .await;
    }
    let run = github(
        args(&[
            "--format",
            "json",
            "github",
            "deployment",
            "finish",
            "--env",
            "staging",
            "--ref",
            SHA,
            "--url",
            "https://preview.example.com",
        ]),
        &server,
        Vec::new(),
    )
    .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let json: Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    assert_eq!(json["deployment_id"], 42);
    assert_eq!(json["state"], "success");
    assert_eq!(json["inactivated"], json!([41]));
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_are_explained_and_exit_3() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/deployments"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({"message": "Validation Failed", "errors": [{"resource": "Deployment", "code": "custom", "message": "No ref found for: 4f9c2d1e"}], "documentation_url": "https://docs.github.com/rest/deployments/deployments#create-a-deployment", "status": "422"})))
        .mount(&server)
        .await;
    let run = github(
        args(&[
            "github",
            "deployment",
            "start",
            "--env",
            "staging",
            "--ref",
            SHA,
        ]),
        &server,
        Vec::new(),
    )
    .await;
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(
            "GitHub rejected the request (422: Validation Failed: No ref found for: 4f9c2d1e)"
        ),
        "{}",
        run.stderr
    );

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/deployments"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"})))
        .mount(&server)
        .await;
    let run = github(
        args(&[
            "github",
            "deployment",
            "start",
            "--env",
            "staging",
            "--ref",
            SHA,
        ]),
        &server,
        Vec::new(),
    )
    .await;
    assert_eq!(run.code, 3);
    assert!(
        run.stderr
            .contains("404 Not Found (Not Found); check the repository name"),
        "{}",
        run.stderr
    );

    // Primary rate limit: 403 with x-ratelimit-remaining: 0, on every attempt.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/deployments"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", "1")
                .set_body_json(
                    json!({"message": "API rate limit exceeded for installation ID 1."}),
                ),
        )
        .expect(4)
        .mount(&server)
        .await;
    let run = github(
        args(&[
            "github",
            "deployment",
            "start",
            "--env",
            "staging",
            "--ref",
            SHA,
        ]),
        &server,
        Vec::new(),
    )
    .await;
    assert_eq!(run.code, 3);
    assert!(
        run.stderr
            .contains("GitHub rate limit exceeded after 4 attempts"),
        "{}",
        run.stderr
    );
    server.verify().await;

    // No token at all: a usage error naming the variable.
    let run = tokio::task::spawn_blocking(|| {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        gitops(dir.path(), &["github", "check", "--repo", "acme/app"], &[])
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("set GITHUB_TOKEN"), "{}", run.stderr);
}

/// Mounts the repository settings: `production` as the policy wants it, `staging` without
/// reviewer problems but without a branch policy, `development` missing; `main` protected
/// with 1 review, `staging` unprotected, `dev` protected with 1 review.
async fn settings(server: &MockServer) {
    let env = |name: &str, rules: Value, policy: Value| {
        json!({
            "id": 161088068, "node_id": "MDExOkVudmlyb25tZW50", "name": name,
            "url": format!("https://api.github.com/repos/acme/app/environments/{name}"),
            "html_url": format!("https://github.com/acme/app/deployments/activity_log?environments_filter={name}"),
            "created_at": "2026-01-10T14:59:22Z", "updated_at": "2026-11-01T11:10:11Z",
            "protection_rules": rules, "deployment_branch_policy": policy,
        })
    };
    let page2 = format!(
        "{}/repositories/99/environments?per_page=100&page=2",
        server.uri()
    );
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/environments"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("link", format!("<{page2}>; rel=\"next\"").as_str())
                .set_body_json(json!({"total_count": 2, "environments": [
                    env("staging", json!([]), Value::Null),
                ]})),
        )
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repositories/99/environments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"total_count": 2, "environments": [
            env("production", json!([
                {"id": 3736, "node_id": "MDQ6R2F0ZTM3MzY=", "type": "wait_timer", "wait_timer": 0},
                {"id": 3755, "node_id": "MDQ6R2F0ZTM3NTU=", "prevent_self_review": false, "type": "required_reviewers", "reviewers": [
                    {"type": "User", "reviewer": {"login": "octocat", "id": 1, "type": "User"}}
                ]},
                {"id": 3756, "node_id": "MDQ6R2F0ZTM3NTY=", "type": "branch_policy"}
            ]), json!({"protected_branches": false, "custom_branch_policies": true})),
        ]})))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/environments/production/deployment-branch-policies"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"total_count": 1, "branch_policies": [
            {"id": 361471, "node_id": "MDE2OkdhdGVCcmFuY2hQb2xpY3kzNjE0NzE=", "name": "main", "type": "branch"}
        ]})))
        .mount(server)
        .await;
    let protection = |reviews: u64, checks: Value| {
        json!({
            "url": "https://api.github.com/repos/acme/app/branches/main/protection",
            "required_status_checks": {"strict": true, "contexts": checks, "checks": []},
            "required_pull_request_reviews": {"dismiss_stale_reviews": true, "require_code_owner_reviews": false, "required_approving_review_count": reviews},
            "enforce_admins": {"enabled": true},
            "required_linear_history": {"enabled": false}, "allow_force_pushes": {"enabled": false}, "allow_deletions": {"enabled": false},
        })
    };
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/branches/main/protection"))
        .respond_with(ResponseTemplate::new(200).set_body_json(protection(1, json!(["pr-checks"]))))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/branches/staging/protection"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Branch not protected", "documentation_url": "https://docs.github.com/rest/branches/branch-protection#get-branch-protection", "status": "404"})))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/branches/dev/protection"))
        .respond_with(ResponseTemplate::new(200).set_body_json(protection(1, json!([]))))
        .mount(server)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_every_difference_and_exits_1() {
    let server = MockServer::start().await;
    // A transient server error on a read is retried.
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/environments"))
        .respond_with(ResponseTemplate::new(502).set_body_string("Bad Gateway"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    settings(&server).await;
    let run = github(args(&["github", "check"]), &server, Vec::new()).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    insta::assert_snapshot!("github_check_differences", run.stdout);

    let run = github(
        args(&["--format", "json", "github", "check"]),
        &server,
        Vec::new(),
    )
    .await;
    let json: Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    assert_eq!(json["matches"], false);
    assert_eq!(json["differences"].as_array().map(Vec::len), Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_without_admin_rights_says_an_admin_token_is_needed() {
    let server = MockServer::start().await;
    settings(&server).await;
    Mock::given(method("PUT"))
        .and(path("/repos/acme/app/environments/development"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest/deployments/environments#create-or-update-an-environment", "status": "403"})))
        .expect(1)
        .mount(&server)
        .await;
    let run = github(args(&["github", "apply"]), &server, Vec::new()).await;
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("update environment development: GitHub answered 403 Forbidden (Resource not accessible by integration); an admin token is needed"), "{}", run.stderr);
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_makes_the_repository_match() {
    let server = MockServer::start().await;
    // The fake's reads stay as they were, so the run also shows the re-check after applying.
    settings(&server).await;
    for env in ["development", "staging"] {
        Mock::given(method("PUT"))
            .and(path(format!("/repos/acme/app/environments/{env}")))
            .and(body_partial_json(json!({"wait_timer": 0, "reviewers": [], "deployment_branch_policy": {"protected_branches": false, "custom_branch_policies": true}})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"name": env})))
            .expect(1)
            .mount(&server)
            .await;
        let branch = if env == "development" {
            "dev"
        } else {
            "staging"
        };
        Mock::given(method("POST"))
            .and(path(format!(
                "/repos/acme/app/environments/{env}/deployment-branch-policies"
            )))
            .and(body_partial_json(json!({"name": branch, "type": "branch"})))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"id": 1, "name": branch, "type": "branch"})),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("PUT"))
        .and(path("/repos/acme/app/branches/main/protection"))
        .and(body_partial_json(json!({
            "required_status_checks": {"strict": true, "contexts": ["pr-checks"]},
            "enforce_admins": true,
            "required_pull_request_reviews": {"required_approving_review_count": 2, "dismiss_stale_reviews": true},
            "restrictions": null,
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/repos/acme/app/branches/staging/protection"))
        .and(body_partial_json(json!({
            "required_status_checks": {"strict": true, "contexts": ["pr-checks"]},
            "required_pull_request_reviews": {"required_approving_review_count": 1},
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    let run = github(args(&["github", "apply"]), &server, Vec::new()).await;
    // The fake keeps answering the old settings, so apply reports what still differs.
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("applied environment development: 0 reviewers, wait timer 0 minutes, deploys only from dev"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("applied branch main: 2 required reviews, checks: pr-checks"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("still differs branch main: required approving reviews: expected 2, found 1"),
        "{}",
        run.stdout
    );
    server.verify().await;

    // --dry-run changes nothing.
    let server = MockServer::start().await;
    settings(&server).await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let run = github(args(&["github", "apply", "--dry-run"]), &server, Vec::new()).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("would change branch main: required approving reviews: 1 -> 2"),
        "{}",
        run.stdout
    );
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pr_opens_or_updates_the_pull_request() {
    let pr = |number: u64| json!({"url": format!("https://api.github.com/repos/acme/app/pulls/{number}"), "id": 1, "number": number, "state": "open", "title": "deploy(staging): backend staging-4f9c2d1", "html_url": format!("https://github.com/acme/app/pull/{number}"), "head": {"ref": "gitops/staging"}, "base": {"ref": "main"}});
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/pulls"))
        .and(query_param("head", "acme:gitops/staging"))
        .and(query_param("base", "main"))
        .and(query_param("state", "open"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/pulls"))
        .and(body_partial_json(json!({"head": "gitops/staging", "base": "main", "title": "deploy(staging): backend staging-4f9c2d1"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(pr(7)))
        .expect(1)
        .mount(&server)
        .await;
    let cmd = args(&[
        "github",
        "pr",
        "--branch",
        "gitops/staging",
        "--base",
        "main",
        "--title",
        "deploy(staging): backend staging-4f9c2d1",
    ]);
    let run = github(cmd.clone(), &server, Vec::new()).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        "pull request #7 created: https://github.com/acme/app/pull/7 (gitops/staging -> main)\n"
    );
    server.verify().await;

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/pulls"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([pr(8)])))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/acme/app/pulls/8"))
        .and(body_partial_json(
            json!({"title": "deploy(staging): backend staging-4f9c2d1"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(pr(8)))
        .expect(1)
        .mount(&server)
        .await;
    let run = github(cmd, &server, Vec::new()).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("pull request #8 updated"),
        "{}",
        run.stdout
    );
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_actions_the_token_is_only_ever_masked() {
    let server = MockServer::start().await;
    settings(&server).await;
    let run = tokio::task::spawn_blocking({
        let uri = server.uri();
        move || {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            gitops(
                dir.path(),
                &["github", "check"],
                &[
                    ("GITHUB_ACTIONS", "true"),
                    ("GITHUB_TOKEN", TOKEN),
                    ("GITHUB_API_URL", &uri),
                    ("GITHUB_REPOSITORY", "acme/app"),
                ],
            )
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.code, 1);
    let first = run.stderr.lines().next().unwrap_or_default();
    assert_eq!(first, format!("::add-mask::{TOKEN}"));
    let rest: String = run.stderr.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert!(!rest.contains(TOKEN) && !run.stdout.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_branch_protection_without_admin_rights_is_explained() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/branches/dev/protection"))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({"message": "Resource not accessible by integration", "status": "403"}),
        ))
        .mount(&server)
        .await;
    settings(&server).await;
    let run = github(args(&["github", "check"]), &server, Vec::new()).await;
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("read the protection of branch dev: GitHub answered 403 Forbidden (Resource not accessible by integration); reading branch protection needs an admin token"),
        "{}",
        run.stderr
    );
}
