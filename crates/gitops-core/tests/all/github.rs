//! The pure parts of the GitHub and Argo CD adapters: settings comparison, `Link` parsing and
//! the Argo CD readiness verdict.

use gitops_core::argocd::ArgoApplication;
use gitops_core::github::{
    BranchSettings, EnvironmentSettings, RepoSettings, Reviewer, compare_settings, next_link,
};
use gitops_core::policy::Policy;
use proptest::prelude::*;

/// The repository exactly as the embedded default policy wants it.
fn matching(policy: &Policy) -> RepoSettings {
    let mut settings = RepoSettings::default();
    for (name, env) in &policy.environments {
        let reviewers = if Policy::requires_approval(env) {
            vec![Reviewer {
                kind: "Team".into(),
                id: 7,
                name: "release-managers".into(),
            }]
        } else {
            Vec::new()
        };
        settings.environments.insert(
            name.clone(),
            Some(EnvironmentSettings {
                reviewers,
                wait_timer: env.approval.wait_timer_minutes,
                branch_policy: Some("custom".into()),
                branch_patterns: vec![env.branch.clone()],
            }),
        );
        settings.branches.insert(
            env.branch.clone(),
            Some(BranchSettings {
                required_reviews: Some(env.branch_protection.required_reviews),
                status_checks: env.branch_protection.required_status_checks.clone(),
                raw: None,
            }),
        );
    }
    settings
}

#[test]
fn matching_repository_has_no_differences() {
    let policy = Policy::embedded_default();
    assert_eq!(compare_settings(&policy, &matching(&policy)), Vec::new());
}

#[test]
fn default_policy_wants_2_reviews_on_main_and_1_on_staging_and_dev() {
    let policy = Policy::embedded_default();
    let mut settings = matching(&policy);
    for branch in ["main", "staging", "dev"] {
        settings.branches.insert(
            branch.into(),
            Some(BranchSettings {
                required_reviews: Some(0),
                status_checks: vec!["pr-checks".into(), "lint".into()],
                raw: None,
            }),
        );
    }
    let diffs = compare_settings(&policy, &settings);
    let found: Vec<(String, String)> = diffs
        .iter()
        .map(|d| (d.scope.clone(), d.expected.clone()))
        .collect();
    assert_eq!(
        found,
        [
            ("branch dev".to_owned(), "1".to_owned()),
            ("branch staging".to_owned(), "1".to_owned()),
            ("branch main".to_owned(), "2".to_owned()),
        ]
    );
    // Extra status checks are fine; missing ones are reported.
    settings.branches.insert(
        "main".into(),
        Some(BranchSettings {
            required_reviews: Some(2),
            status_checks: vec!["lint".into()],
            raw: None,
        }),
    );
    let diffs = compare_settings(&policy, &settings);
    assert!(diffs.iter().any(|d| d.scope == "branch main"
        && d.setting == "required status checks"
        && d.expected == "pr-checks"
        && d.actual == "lint"));
}

#[test]
fn environment_differences() {
    let policy = Policy::embedded_default();
    let mut settings = matching(&policy);
    // Production without reviewers and with a wait timer; development gated by a reviewer
    // although it deploys automatically; staging deployable from any branch.
    if let Some(Some(prod)) = settings.environments.get_mut("production") {
        prod.reviewers.clear();
        prod.wait_timer = 30;
    }
    if let Some(Some(dev)) = settings.environments.get_mut("development") {
        dev.reviewers.push(Reviewer {
            kind: "User".into(),
            id: 1,
            name: "octocat".into(),
        });
    }
    if let Some(Some(staging)) = settings.environments.get_mut("staging") {
        staging.branch_policy = None;
    }
    let diffs: Vec<String> = compare_settings(&policy, &settings)
        .iter()
        .map(|d| format!("{}: {}: {} / {}", d.scope, d.setting, d.expected, d.actual))
        .collect();
    assert_eq!(
        diffs,
        [
            "environment development: required reviewers: none (deploys automatically) / octocat",
            "environment staging: deployment branches: only staging / any branch",
            "environment production: required reviewers: at least 1 / none",
            "environment production: wait timer: 0 minutes / 30 minutes",
        ]
    );
}

#[test]
fn glob_branches_are_not_compared_through_branch_protection() {
    let yaml = gitops_core::policy::DEFAULT_POLICY_YAML
        .replace("branch: staging", "branch: \"release/*\"");
    let policy = Policy::from_yaml_str(&yaml, "test").unwrap_or_else(|e| panic!("{e}"));
    let mut settings = matching(&policy);
    settings.branches.shift_remove("release/*");
    assert!(
        compare_settings(&policy, &settings)
            .iter()
            .all(|d| d.scope != "branch release/*")
    );
}

#[test]
fn link_header_next_page() {
    let header = "<https://api.github.com/repositories/1300192/issues?page=2>; rel=\"prev\", <https://api.github.com/repositories/1300192/issues?page=4>; rel=\"next\", <https://api.github.com/repositories/1300192/issues?page=515>; rel=\"last\", <https://api.github.com/repositories/1300192/issues?page=1>; rel=\"first\"";
    assert_eq!(
        next_link(header).as_deref(),
        Some("https://api.github.com/repositories/1300192/issues?page=4")
    );
    assert_eq!(
        next_link("<https://api.github.com/x?page=1>; rel=\"first\""),
        None
    );
    assert_eq!(next_link(""), None);
}

fn app(json: serde_json::Value) -> ArgoApplication {
    serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn argocd_verdict() {
    let sha = "4f9c2d1e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e";
    let ready = app(
        serde_json::json!({"status": {"sync": {"status": "Synced", "revision": sha}, "health": {"status": "Healthy"}}}),
    );
    assert!(ready.verdict(Some(sha)).ready);
    assert!(ready.verdict(Some("4f9c2d1")).ready);
    assert!(ready.verdict(None).ready);
    // Too short a prefix is not accepted as a revision.
    assert!(!ready.verdict(Some("4f9c")).ready);
    assert!(!ready.verdict(Some("0000000")).ready);
    let multi = app(
        serde_json::json!({"status": {"sync": {"status": "Synced", "revisions": ["aaaaaaaaaa", sha]}, "health": {"status": "Healthy"}}}),
    );
    assert!(multi.verdict(Some(sha)).ready);
    let degraded = app(
        serde_json::json!({"status": {"sync": {"status": "Synced", "revision": sha}, "health": {"status": "Degraded", "message": "Back-off restarting failed container"}, "operationState": {"phase": "Failed", "message": "one or more objects failed to apply"}}}),
    );
    let verdict = degraded.verdict(Some(sha));
    assert!(!verdict.ready);
    assert_eq!(
        verdict.summary,
        format!(
            "sync Synced, health Degraded, revision {sha}: Back-off restarting failed container; last sync Failed: one or more objects failed to apply"
        )
    );
    let empty = app(serde_json::json!({}));
    assert_eq!(
        empty.verdict(Some(sha)).summary,
        format!("sync Unknown, health Unknown, revision unknown (expected {sha})")
    );
}

proptest! {
    #[test]
    fn next_link_never_panics(header in "\\PC{0,200}") {
        let _ = next_link(&header);
    }

    #[test]
    fn argocd_verdict_never_panics(rev in "\\PC{0,50}", want in "\\PC{0,50}") {
        let application = app(serde_json::json!({"status": {"sync": {"status": "Synced", "revision": rev}, "health": {"status": "Healthy"}}}));
        let _ = application.verdict(Some(&want));
    }
}
