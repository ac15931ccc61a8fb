//! The deploy ledger: messages render and parse back; parsing never panics.

use chrono::{DateTime, Utc};
use gitops_core::ledger::{
    self, CommitInfo, DeployKind, DeployMessage, LedgerImage, RollbackSelector,
};
use proptest::prelude::*;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

fn deploy(env: &str, images: &[(&str, &str)], kind: DeployKind, of: Option<&str>) -> String {
    ledger::render_message(
        "deploy({env}): {images}",
        &DeployMessage {
            environment: env.into(),
            kind,
            images: images
                .iter()
                .map(|(n, r)| LedgerImage::from_reference(n, r))
                .collect(),
            source_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            rollback_of: of.map(str::to_owned),
        },
    )
    .unwrap_or_else(|err| panic!("render: {err}"))
}

#[test]
fn default_message_snapshot() {
    let text = deploy(
        "production",
        &[
            (
                "backend",
                "registry.digitalocean.com/ai-incident-assistant/backend:prod-abc1234-20251203-160000@sha256:4f1c0000000000000000000000000000000000000000000000000000000000aa",
            ),
            (
                "frontend",
                "registry.digitalocean.com/ai-incident-assistant/frontend:prod-abc1234-20251203-160000",
            ),
        ],
        DeployKind::Deploy,
        None,
    );
    insta::assert_snapshot!(text);
}

#[test]
fn many_images_are_summarised_in_the_subject() {
    let images: Vec<(String, String)> = (0..5)
        .map(|i| (format!("svc{i}"), format!("r.io/svc{i}:v{i}")))
        .collect();
    let refs: Vec<(&str, &str)> = images
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let text = deploy("dev", &refs, DeployKind::Deploy, None);
    assert_eq!(
        text.lines().next(),
        Some("deploy(dev): svc0 v0, svc1 v1, svc2 v2, and 2 more")
    );
    assert_eq!(text.matches("Gitops-Image: ").count(), 5);
}

#[test]
fn history_diff_and_rollback_over_parsed_commits() {
    let commits = vec![
        CommitInfo {
            commit: "c3".repeat(20),
            time: at(300),
            author: "bot <b@x>".into(),
            message: deploy(
                "staging",
                &[("backend", "r.io/backend:staging-bbbbbbb@sha256:bb")],
                DeployKind::Deploy,
                None,
            ),
        },
        CommitInfo {
            commit: "c2".repeat(20),
            time: at(200),
            author: "bot <b@x>".into(),
            message: "chore: unrelated commit\n".into(),
        },
        CommitInfo {
            commit: "c1".repeat(20),
            time: at(100),
            author: "bot <b@x>".into(),
            message: deploy(
                "production",
                &[("backend", "r.io/backend:prod-aaaaaaa@sha256:aa")],
                DeployKind::Deploy,
                None,
            ),
        },
    ];
    let entries = ledger::parse_ledger(&commits);
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].environment, "production");
    assert_eq!(ledger::history(&entries, "staging").len(), 1);
    let diff = ledger::diff(&entries, "staging", "production");
    assert_eq!(diff.images.len(), 1);
    assert!(diff.source_commits.is_empty(), "same source commit in both");
    let refused = ledger::rollback_target(&entries, "production", &RollbackSelector::Steps(1));
    assert!(
        refused
            .map_err(|e| e.to_string())
            .err()
            .unwrap_or_default()
            .contains("no earlier deploy")
    );
}

#[test]
fn same_digest_under_other_tags_is_the_same_build() {
    let a = LedgerImage::from_reference("backend", "r.io/backend:staging-x@sha256:11");
    let b = LedgerImage::from_reference("backend", "r.io/backend:prod-x@sha256:11");
    assert!(a.same_build(&b));
}

proptest! {
    #[test]
    fn parsing_arbitrary_messages_never_panics(message in ".{0,400}", env in "[a-z]{1,8}", image in "[ -~]{0,60}") {
        let info = CommitInfo { commit: "abc".into(), time: at(0), author: "a".into(), message };
        let _ = ledger::parse_commit(&info);
        let crafted = CommitInfo {
            commit: "abc".into(),
            time: at(0),
            author: "a".into(),
            message: format!("x\n\nGitops-Environment: {env}\nGitops-Image: {image}\n"),
        };
        if let Some(entry) = ledger::parse_commit(&crafted) {
            prop_assert_eq!(entry.environment, env);
        }
    }

    #[test]
    fn rendered_messages_parse_back(env in "[a-z][a-z0-9-]{0,10}", tag in "[a-z0-9][a-z0-9.-]{0,20}", digest in "[0-9a-f]{64}") {
        let reference = format!("r.io/acme/backend:{tag}@sha256:{digest}");
        let text = deploy(&env, &[("backend", &reference)], DeployKind::Hotfix, None);
        let info = CommitInfo { commit: "abc".into(), time: at(0), author: "a".into(), message: text };
        let entry = ledger::parse_commit(&info);
        prop_assert!(entry.is_some());
        if let Some(entry) = entry {
            prop_assert_eq!(entry.kind, DeployKind::Hotfix);
            prop_assert_eq!(entry.images[0].pinned(), reference);
        }
    }
}
