//! Event detection from the GitHub Actions environment, from flags and from a local HEAD.

use std::collections::BTreeMap;

use gitops_core::event::{Event, EventFlags, EventKind, LocalHead};
use proptest::prelude::*;

const HEAD_SHA: &str = "860c1904a1ce19322e91ac35af1ab07466440c37";
const MERGE_SHA: &str = "1111111111111111111111111111111111111111";

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn pr_json(number: u64, head: &str, base: &str) -> String {
    format!(
        r#"{{"action":"opened","number":{number},"pull_request":{{"number":{number},"head":{{"sha":"{HEAD_SHA}","ref":"{head}"}},"base":{{"ref":"{base}","sha":"2222222222222222222222222222222222222222"}}}}}}"#
    )
}

#[test]
fn pull_request_uses_head_sha_not_the_merge_commit() {
    let vars = env(&[
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_REF", "refs/pull/42/merge"),
        ("GITHUB_REF_NAME", "42/merge"),
        ("GITHUB_SHA", MERGE_SHA),
        ("GITHUB_HEAD_REF", "feature/add-analytics"),
        ("GITHUB_BASE_REF", "dev"),
    ]);
    let e = Event::from_github(&vars, Some(&pr_json(42, "feature/add-analytics", "dev")))
        .expect("event");
    assert_eq!(e.kind, EventKind::PullRequest);
    assert_eq!(e.sha, HEAD_SHA);
    assert_eq!(e.branch.as_deref(), Some("feature/add-analytics"));
    assert_eq!(e.base.as_deref(), Some("dev"));
    assert_eq!(e.pr_number, Some(42));
}

#[test]
fn pull_request_target_also_uses_head_sha() {
    let vars = env(&[
        ("GITHUB_EVENT_NAME", "pull_request_target"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_SHA", MERGE_SHA),
    ]);
    let e = Event::from_github(&vars, Some(&pr_json(7, "hotfix/x", "main"))).expect("event");
    assert_eq!(e.kind, EventKind::PullRequestTarget);
    assert_eq!(e.sha, HEAD_SHA);
    assert_eq!(e.base.as_deref(), Some("main"));
}

#[test]
fn push_of_branch_reads_ref_and_commit_time() {
    let vars = env(&[
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_REF", "refs/heads/release/1.4"),
        ("GITHUB_REF_NAME", "release/1.4"),
        ("GITHUB_SHA", HEAD_SHA),
    ]);
    let json = r#"{"ref":"refs/heads/release/1.4","after":"860c1904a1ce19322e91ac35af1ab07466440c37","head_commit":{"id":"860c1904a1ce19322e91ac35af1ab07466440c37","timestamp":"2025-12-03T13:00:00+01:00"}}"#;
    let e = Event::from_github(&vars, Some(json)).expect("event");
    assert_eq!(e.branch.as_deref(), Some("release/1.4"));
    assert_eq!(
        e.commit_time.map(|t| t.to_rfc3339()),
        Some("2025-12-03T12:00:00+00:00".to_owned())
    );
    insta::assert_json_snapshot!(e);
}

#[test]
fn push_of_tag_and_deleted_branch() {
    let vars = env(&[
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_REF", "refs/tags/v1.2.3"),
        ("GITHUB_SHA", HEAD_SHA),
    ]);
    let e = Event::from_github(&vars, None).expect("event");
    assert_eq!(
        (e.tag.as_deref(), e.branch.as_deref()),
        (Some("v1.2.3"), None)
    );
    let vars = env(&[
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_REF", "refs/heads/feature/x"),
        ("GITHUB_SHA", HEAD_SHA),
    ]);
    let e = Event::from_github(&vars, Some(r#"{"deleted": true}"#)).expect("event");
    assert!(e.deleted);
}

#[test]
fn dispatch_and_schedule() {
    let vars = env(&[
        ("GITHUB_EVENT_NAME", "workflow_dispatch"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_SHA", HEAD_SHA),
    ]);
    let e =
        Event::from_github(&vars, Some(r#"{"inputs":{"environment":"staging"}}"#)).expect("event");
    assert_eq!(e.environment.as_deref(), Some("staging"));
    let vars = env(&[
        ("GITHUB_EVENT_NAME", "schedule"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_SHA", HEAD_SHA),
    ]);
    let e = Event::from_github(&vars, Some(r#"{"schedule":"0 3 * * *"}"#)).expect("event");
    assert_eq!(e.kind, EventKind::Schedule);
    assert_eq!(e.branch.as_deref(), Some("main"));
}

#[test]
fn bad_github_input_gives_clear_errors() {
    let pr = env(&[
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_REF", "refs/pull/1/merge"),
        ("GITHUB_SHA", MERGE_SHA),
        ("GITHUB_EVENT_PATH", "/runner/event.json"),
    ]);
    let cases: Vec<(BTreeMap<String, String>, Option<&str>, &str)> = vec![
        (pr.clone(), None, "the event JSON is missing"),
        (
            pr.clone(),
            Some(r#"{"pull_request": {"head": {"sha": "#),
            "event JSON from /runner/event.json is not valid JSON (line 1, column 34)",
        ),
        (
            pr.clone(),
            Some(r#"{"pull_request": {"base": {"ref": "dev"}}}"#),
            "lacks pull_request.head.sha",
        ),
        (
            pr,
            Some(r#"{"pull_request": {"head": {"sha": "zzz"}, "base": {"ref": "dev"}}}"#),
            "invalid commit sha 'zzz'",
        ),
        (env(&[]), None, "GITHUB_EVENT_NAME is missing"),
        (
            env(&[("GITHUB_EVENT_NAME", "release")]),
            None,
            "unsupported event 'release'",
        ),
        (
            env(&[
                ("GITHUB_EVENT_NAME", "push"),
                ("GITHUB_REF", "refs/pull/3/merge"),
                ("GITHUB_SHA", HEAD_SHA),
            ]),
            None,
            "cannot read a branch or tag from GITHUB_REF='refs/pull/3/merge'",
        ),
        (
            env(&[
                ("GITHUB_EVENT_NAME", "push"),
                ("GITHUB_REF", "refs/heads/dev"),
                ("GITHUB_SHA", "abc12"),
            ]),
            None,
            "invalid commit sha 'abc12'",
        ),
    ];
    for (vars, json, expected) in cases {
        let err = Event::from_github(&vars, json).expect_err(expected);
        assert!(err.to_string().contains(expected), "{err} / {expected}");
    }
}

#[test]
fn flags() {
    let flags = |event: &str, branch: Option<&str>, base: Option<&str>, tag: Option<&str>| {
        Event::from_flags(&EventFlags {
            event: Some(event.to_owned()),
            branch: branch.map(str::to_owned),
            base: base.map(str::to_owned),
            tag: tag.map(str::to_owned),
            sha: Some(HEAD_SHA.to_owned()),
            time: Some("2025-12-03T12:00:00Z".to_owned()),
            environment: None,
        })
    };
    let e = flags("push", Some("refs/heads/dev"), None, None).expect("ok");
    assert_eq!(e.branch.as_deref(), Some("dev"));
    assert!(e.commit_time.is_some());
    let e = flags("push", None, None, Some("refs/tags/v1.0.0")).expect("ok");
    assert_eq!(e.tag.as_deref(), Some("v1.0.0"));
    for (result, expected) in [
        (
            flags("push", None, None, None),
            "--branch or --tag is missing",
        ),
        (flags("push", Some("dev"), None, Some("v1")), "not both"),
        (
            flags("pull_request", Some("f"), None, None),
            "--base is missing",
        ),
        (
            flags("merge", Some("dev"), None, None),
            "unsupported event 'merge'",
        ),
    ] {
        let err = result.expect_err(expected);
        assert!(err.to_string().contains(expected), "{err}");
    }
    let err = Event::from_flags(&EventFlags {
        branch: Some("dev".into()),
        sha: Some("860c19".into()),
        ..EventFlags::default()
    })
    .expect_err("short sha");
    assert!(err.to_string().contains("at least 7 hexadecimal"));
    let err = Event::from_flags(&EventFlags {
        branch: Some("dev".into()),
        sha: Some(HEAD_SHA.into()),
        time: Some("yesterday".into()),
        ..EventFlags::default()
    })
    .expect_err("bad time");
    assert!(err.to_string().contains("expected RFC 3339"));
}

#[test]
fn local_head() {
    let e = Event::from_local(&LocalHead {
        branch: Some("dev".into()),
        sha: HEAD_SHA.into(),
        commit_time: None,
    })
    .expect("ok");
    assert_eq!(
        (e.kind, e.branch.as_deref()),
        (EventKind::Push, Some("dev"))
    );
    let err = Event::from_local(&LocalHead {
        branch: None,
        sha: HEAD_SHA.into(),
        commit_time: None,
    })
    .expect_err("detached");
    assert!(err.to_string().contains("HEAD is detached"));
}

#[test]
fn reads_head_of_a_real_repository() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = git2::Repository::init(dir.path()).expect("init");
    let sig = git2::Signature::new("t", "t@example.com", &git2::Time::new(1_764_763_200, 0))
        .expect("sig");
    let tree_id = repo.index().and_then(|mut i| i.write_tree()).expect("tree");
    let tree = repo.find_tree(tree_id).expect("tree");
    let commit = repo
        .commit(Some("HEAD"), &sig, &sig, "init", &tree, &[])
        .expect("commit");
    let head = gitops_core::event::local::read_head(dir.path()).expect("head");
    assert_eq!(head.sha, commit.to_string());
    assert!(head.branch.is_some());
    assert_eq!(
        head.commit_time.map(|t| t.to_rfc3339()),
        Some("2025-12-03T12:00:00+00:00".to_owned())
    );
    assert_eq!(
        gitops_core::event::local::tree_of(dir.path(), &commit.to_string()),
        Some(tree_id.to_string())
    );
    let empty = tempfile::tempdir().expect("tempdir");
    assert!(gitops_core::event::local::read_head(empty.path()).is_err());
}

proptest! {
    #[test]
    fn arbitrary_event_json_never_panics(json in "\\PC{0,300}", name in "(push|pull_request|pull_request_target|workflow_dispatch|schedule)") {
        let vars = env(&[("GITHUB_EVENT_NAME", &name), ("GITHUB_REF", "refs/heads/dev"), ("GITHUB_SHA", HEAD_SHA)]);
        let _ = Event::from_github(&vars, Some(&json));
    }

    #[test]
    fn structured_event_json_never_panics(sha in "[0-9a-fx]{0,45}", base in "[a-z/]{0,10}", num in proptest::num::i64::ANY) {
        let json = format!(r#"{{"number":{num},"pull_request":{{"head":{{"sha":"{sha}"}},"base":{{"ref":"{base}"}}}}}}"#);
        let vars = env(&[("GITHUB_EVENT_NAME", "pull_request")]);
        let _ = Event::from_github(&vars, Some(&json));
    }
}
