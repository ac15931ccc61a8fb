//! The GitOps repository writer against real repositories: bare remotes on disk and served
//! by `git daemon` (real receive-pack, hooks run).

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gitops_core::gitops_repo::{
    Author, EditError, FileWrite, GitCredentials, GitopsRepo, GitopsRepoError, Location, Proposal,
    RetryPolicy, WriteRequest,
};
use gitops_core::ledger::{self, DeployKind, DeployMessage, LedgerImage};

use crate::support::git::{GitDaemon, Remote, git};

const OVERLAY: &str = "overlays/prod/kustomization.yaml";

fn request(branch: &str) -> WriteRequest {
    WriteRequest {
        branch: branch.to_owned(),
        pull_request_prefix: None,
        author: Author {
            name: "gitops-bot".into(),
            email: "bot@example.com".into(),
        },
        time: DateTime::<Utc>::from_timestamp(1_764_777_600, 0).unwrap_or_default(),
        retry: RetryPolicy {
            attempts: 30,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(200),
        },
    }
}

/// An edit that appends `line` to the overlay (a stand-in for the kustomize editor).
fn append(
    line: String,
) -> impl FnMut(&gitops_core::gitops_repo::BaseTree<'_>) -> Result<Proposal, EditError> {
    move |base| {
        let text = base.read(OVERLAY)?.unwrap_or_default();
        let content = if text.lines().any(|l| l == line) {
            text
        } else {
            format!("{text}{line}\n")
        };
        Ok(Proposal {
            files: vec![FileWrite {
                path: OVERLAY.into(),
                content,
            }],
            message: format!("deploy(prod): {line}"),
        })
    }
}

fn remote() -> Remote {
    Remote::with_files(&[(OVERLAY, "resources:\n- ../../base\n")])
}

fn open(location: Location) -> GitopsRepo {
    GitopsRepo::open(&location, "origin", GitCredentials::default())
        .unwrap_or_else(|err| panic!("open: {err}"))
}

#[test]
fn push_through_git_daemon_lands_one_commit_and_confirms_it() {
    let remote = remote();
    let daemon = GitDaemon::start(remote.dir.path());
    let before = remote.count("main");
    let mut repo = open(Location::Url(daemon.url("remote.git")));
    let outcome = repo
        .write(&request("main"), append("# backend v2".into()))
        .unwrap_or_else(|err| panic!("write: {err}"));
    let commit = outcome.commit.clone().unwrap_or_default();
    assert_eq!(remote.tip("main"), commit);
    assert_eq!(remote.count("main"), before + 1);
    assert_eq!(outcome.attempts, 1);
    assert_eq!(outcome.plan.changed_paths(), vec![OVERLAY.to_owned()]);
    assert!(remote.show("main", OVERLAY).ends_with("# backend v2"));
    assert_eq!(
        remote.git_bare(&["log", "-1", "--format=%an <%ae>|%s", "main"]),
        "gitops-bot <bot@example.com>|deploy(prod): # backend v2"
    );

    // The same edit again changes nothing: no commit.
    let again = repo
        .write(&request("main"), append("# backend v2".into()))
        .unwrap_or_else(|err| panic!("write: {err}"));
    assert_eq!(again.commit, None);
    assert!(again.plan.is_empty());
    assert_eq!(remote.count("main"), before + 1);

    // Writes fetch only the tip; the ledger deepens the clone to the whole history.
    let log = repo
        .log("main", 100)
        .unwrap_or_else(|err| panic!("log: {err}"));
    assert_eq!(log.len(), before + 1);
}

#[test]
fn pre_receive_hook_rejecting_the_first_push_is_retried_and_lands() {
    let remote = remote();
    remote.hook(
        "pre-receive",
        "#!/bin/sh\nif [ ! -f rejected-once ]; then touch rejected-once; echo 'busy, try again' >&2; exit 1; fi\nexit 0\n",
    );
    let daemon = GitDaemon::start(remote.dir.path());
    let mut repo = open(Location::Url(daemon.url("remote.git")));
    let outcome = repo
        .write(&request("main"), append("# hooked".into()))
        .unwrap_or_else(|err| panic!("write: {err}"));
    assert_eq!(outcome.attempts, 2, "the first push must have been refused");
    assert_eq!(Some(remote.tip("main")), outcome.commit);
    assert!(remote.bare.join("rejected-once").exists());
}

#[test]
fn a_hook_that_always_refuses_fails_after_the_bounded_attempts() {
    let remote = remote();
    remote.hook("pre-receive", "#!/bin/sh\necho 'frozen' >&2\nexit 1\n");
    let daemon = GitDaemon::start(remote.dir.path());
    let tip = remote.tip("main");
    let mut repo = open(Location::Url(daemon.url("remote.git")));
    let mut req = request("main");
    req.retry.attempts = 3;
    let err = repo.write(&req, append("# never".into()));
    match err {
        Err(GitopsRepoError::PushFailed { attempts, last, .. }) => {
            assert_eq!(attempts, 3);
            assert!(last.contains("rejected"), "{last}");
        }
        other => panic!("expected PushFailed, got {other:?}"),
    }
    assert_eq!(remote.tip("main"), tip);
}

#[test]
fn concurrent_writers_to_a_served_remote_lose_nothing() {
    let remote = remote();
    let daemon = GitDaemon::start(remote.dir.path());
    let before = remote.count("main");
    let url = daemon.url("remote.git");
    let writers = 8;
    let handles: Vec<_> = (0..writers)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut repo = open(Location::Url(url));
                repo.write(&request("main"), append(format!("# image-{i}")))
                    .map(|o| o.commit)
                    .map_err(|e| e.to_string())
            })
        })
        .collect();
    let mut commits = Vec::new();
    for handle in handles {
        let result = handle.join().unwrap_or_else(|_| Err("panicked".into()));
        commits.push(result.unwrap_or_else(|err| panic!("writer failed: {err}")));
    }
    assert_eq!(remote.count("main"), before + writers);
    let text = remote.show("main", OVERLAY);
    for i in 0..writers {
        assert_eq!(
            text.lines()
                .filter(|l| *l == format!("# image-{i}"))
                .count(),
            1
        );
    }
    commits.sort();
    commits.dedup();
    assert_eq!(commits.len(), writers);
}

#[test]
fn concurrent_direct_writers_to_a_bare_path_lose_nothing() {
    let remote = remote();
    let before = remote.count("main");
    let bare: PathBuf = remote.bare.clone();
    let writers = 8;
    let handles: Vec<_> = (0..writers)
        .map(|i| {
            let bare = bare.clone();
            std::thread::spawn(move || {
                let mut repo = open(Location::parse(&format!("file://{}", bare.display())));
                repo.write(&request("main"), append(format!("# direct-{i}")))
                    .map(|o| o.commit)
                    .map_err(|e| e.to_string())
            })
        })
        .collect();
    for handle in handles {
        let result = handle.join().unwrap_or_else(|_| Err("panicked".into()));
        assert!(result.is_ok(), "{result:?}");
    }
    assert_eq!(remote.count("main"), before + writers);
    let text = remote.show("main", OVERLAY);
    for i in 0..writers {
        assert_eq!(
            text.lines()
                .filter(|l| *l == format!("# direct-{i}"))
                .count(),
            1
        );
    }
}

#[test]
fn a_failing_edit_makes_no_commit() {
    let remote = remote();
    let tip = remote.tip("main");
    let mut repo = open(Location::Path(remote.bare.clone()));
    let err = repo.write(&request("main"), |_base| -> Result<Proposal, EditError> {
        Err("overlays/prod/kustomization.yaml:3:5: bad indentation".into())
    });
    let text = err.map(|_| String::new()).unwrap_or_else(|e| e.to_string());
    assert_eq!(
        text,
        "overlays/prod/kustomization.yaml:3:5: bad indentation"
    );
    assert_eq!(remote.tip("main"), tip);
}

#[test]
fn checkout_of_the_branch_gets_its_files_updated_and_dirty_files_are_refused() {
    let remote = remote();
    // The seed clone has `origin` = a local path: written directly in the bare remote.
    // A checkout without a remote is written in place, working tree included.
    let work = remote.dir.path().join("solo");
    git(remote.dir.path(), &["clone", "-q", "remote.git", "solo"]);
    git(&work, &["remote", "remove", "origin"]);
    let mut repo = open(Location::Path(work.clone()));
    let outcome = repo
        .write(&request("main"), append("# in place".into()))
        .unwrap_or_else(|err| panic!("write: {err}"));
    let head = git(&work, &["rev-parse", "HEAD"]);
    assert_eq!(Some(head), outcome.commit);
    let on_disk = std::fs::read_to_string(work.join(OVERLAY)).unwrap_or_default();
    assert!(on_disk.ends_with("# in place\n"));
    assert_eq!(git(&work, &["status", "--porcelain"]), "");

    std::fs::write(work.join(OVERLAY), "local change\n").unwrap_or_default();
    let err = repo.write(&request("main"), append("# refused".into()));
    assert!(matches!(err, Err(GitopsRepoError::Dirty { .. })), "{err:?}");
    assert_eq!(
        std::fs::read_to_string(work.join(OVERLAY)).unwrap_or_default(),
        "local change\n"
    );
}

#[test]
fn pull_request_mode_pushes_a_branch_and_leaves_main_alone() {
    let remote = remote();
    let daemon = GitDaemon::start(remote.dir.path());
    let tip = remote.tip("main");
    let mut repo = open(Location::Url(daemon.url("remote.git")));
    let mut req = request("main");
    req.pull_request_prefix = Some("gitops/prod/".into());
    let outcome = repo
        .write(&req, append("# reviewed".into()))
        .unwrap_or_else(|err| panic!("write: {err}"));
    let commit = outcome.commit.clone().unwrap_or_default();
    assert_eq!(
        outcome.pushed_branch,
        format!("gitops/prod/{}", &commit[..7])
    );
    assert_eq!(remote.tip(&outcome.pushed_branch), commit);
    assert_eq!(remote.tip("main"), tip);
}

#[test]
fn cherry_pick_lands_or_reports_the_conflict_and_leaves_the_branch_untouched() {
    let remote = Remote::with_files(&[("app.txt", "one\ntwo\nthree\n"), ("other.txt", "x\n")]);
    let work = &remote.work;
    git(work, &["branch", "staging"]);
    git(work, &["branch", "dev"]);
    // dev diverges on the line the hotfix touches; staging does not.
    git(work, &["checkout", "-q", "dev"]);
    std::fs::write(work.join("app.txt"), "one\nTWO-dev\nthree\n").unwrap_or_default();
    git(work, &["commit", "-q", "-am", "dev change"]);
    git(work, &["checkout", "-q", "main"]);
    std::fs::write(work.join("app.txt"), "one\nTWO-hotfix\nthree\n").unwrap_or_default();
    git(work, &["commit", "-q", "-am", "hotfix: fix two"]);
    let hotfix = git(work, &["rev-parse", "HEAD"]);
    git(work, &["push", "-q", "origin", "main", "staging", "dev"]);
    let dev_tip = remote.tip("dev");

    let daemon = GitDaemon::start(remote.dir.path());
    let mut repo = open(Location::Url(daemon.url("remote.git")));
    let staging = repo
        .cherry_pick(&hotfix, &request("staging"))
        .unwrap_or_else(|err| panic!("pick: {err}"));
    assert_eq!(Some(remote.tip("staging")), staging.commit);
    assert_eq!(remote.show("staging", "app.txt"), "one\nTWO-hotfix\nthree");
    let message = remote.git_bare(&["log", "-1", "--format=%B", "staging"]);
    assert!(message.contains(&format!("(cherry picked from commit {hotfix})")));
    assert_eq!(
        remote.git_bare(&["log", "-1", "--format=%an", "staging"]),
        "Test Author"
    );

    let err = repo.cherry_pick(&hotfix, &request("dev"));
    match err {
        Err(GitopsRepoError::Conflict { paths, .. }) => assert_eq!(paths, vec!["app.txt"]),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(remote.tip("dev"), dev_tip);

    // Picking again onto staging changes nothing: already applied.
    let again = repo
        .cherry_pick(&hotfix, &request("staging"))
        .unwrap_or_else(|err| panic!("pick: {err}"));
    assert_eq!(again.commit, None);
}

#[test]
fn ledger_round_trips_through_real_commits() {
    let remote = remote();
    let mut repo = open(Location::Path(remote.bare.clone()));
    for (i, tag) in [
        "prod-aaaaaaa-20251203-160000",
        "prod-bbbbbbb-20251204-160000",
    ]
    .iter()
    .enumerate()
    {
        let image = LedgerImage::from_reference(
            "backend",
            &format!("r.io/acme/backend:{tag}@sha256:{i:064}"),
        );
        let message = ledger::render_message(
            "deploy({env}): {images}",
            &DeployMessage {
                environment: "production".into(),
                kind: DeployKind::Deploy,
                images: vec![image],
                source_commit: Some(format!("{i:040}")),
                rollback_of: None,
            },
        )
        .unwrap_or_else(|err| panic!("render: {err}"));
        let line = format!("# {tag}");
        repo.write(&request("main"), move |base| {
            let mut proposal = append(line.clone())(base)?;
            proposal.message = message.clone();
            Ok(proposal)
        })
        .unwrap_or_else(|err| panic!("write: {err}"));
    }
    let commits = repo
        .log("main", 100)
        .unwrap_or_else(|err| panic!("log: {err}"));
    let entries = ledger::parse_ledger(&commits);
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[0].images[0].tag(),
        Some("prod-aaaaaaa-20251203-160000")
    );
    assert_eq!(entries[1].author, "gitops-bot <bot@example.com>");
    let plan = ledger::rollback_target(&entries, "production", &ledger::RollbackSelector::Steps(1))
        .unwrap_or_else(|err| panic!("rollback: {err}"));
    assert_eq!(plan.target_commit, entries[0].commit);
    assert_eq!(plan.rollback_of, entries[1].commit);
}
