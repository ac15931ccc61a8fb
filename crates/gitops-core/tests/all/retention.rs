//! Retention against a real CNCF distribution registry on loopback.
#![allow(clippy::unwrap_used)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use gitops_core::image_ref::ImageRef;
use gitops_core::policy::Policy;
use gitops_core::registry::{ConnectOptions, Manifest, OCI_INDEX, OCI_MANIFEST, Registry};
use gitops_core::retention::oci::OciBackend;
use gitops_core::retention::{
    Action, ApplyReport, DeletionStatus, DeployedDigest, ExecuteOptions, NoProgress, Progress,
    RetentionBackend, RetentionError, RetentionPlan, RunInput, execute, render_plan, run,
};
use gitops_core::tag::TagScheme;

use crate::support::registry::TestRegistry;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 12, 20, 12, 0, 0).unwrap()
}

fn ago(days: i64) -> String {
    (now() - chrono::TimeDelta::days(days))
        .format("%Y%m%d-%H%M%S")
        .to_string()
}

fn policy(untagged: &str) -> Policy {
    let text = gitops_core::policy::DEFAULT_POLICY_YAML
        .replace("keep_latest: true }", "keep_latest: true, keep_min: 0 }");
    let mut policy = Policy::from_yaml_str(&text, "test").unwrap();
    policy.retention.untagged = match untagged {
        "delete" => gitops_core::policy::UntaggedAction::Delete,
        _ => gitops_core::policy::UntaggedAction::Keep,
    };
    policy
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The plan of a dry run now, with `policy("keep")` and nothing deployed.
fn dry_run_plan(rt: &tokio::runtime::Runtime, backend: &OciBackend) -> RetentionPlan {
    let policy = policy("keep");
    let scheme = TagScheme::new(&policy).unwrap();
    let input = RunInput {
        policy: &policy,
        scheme: &scheme,
        now: now(),
        deployed: &[],
        max_deletions: None,
    };
    rt.block_on(run(backend, &input, ExecuteOptions::default(), &NoProgress))
        .unwrap()
        .0
}

/// What an apply did to `digest`.
fn status_of(report: &ApplyReport, digest: &str) -> DeletionStatus {
    report
        .outcomes
        .iter()
        .find(|o| o.digest == digest)
        .map(|o| o.status.clone())
        .unwrap()
}

fn connect(registry: &TestRegistry, attempts: u32) -> (Registry, ImageRef) {
    let repo = ImageRef::parse(&format!("{}/app", registry.host())).unwrap();
    let options = ConnectOptions {
        max_attempts: attempts,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
        ..ConnectOptions::default()
    };
    (Registry::for_ref(&repo, &options).unwrap(), repo)
}

fn blob_descriptor(digest: &str, size: usize, media_type: &str) -> serde_json::Value {
    serde_json::json!({"mediaType": media_type, "digest": digest, "size": size})
}

/// Pushes a tiny single-platform image (config + one layer) and returns its digest.
async fn push_image(reg: &Registry, repo: &ImageRef, label: &str) -> String {
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"label\":\"{label}\"}}");
    let layer = format!("layer of {label}");
    let config_digest = gitops_core::registry::sha256_digest(config.as_bytes());
    let layer_digest = gitops_core::registry::sha256_digest(layer.as_bytes());
    reg.put_blob(repo, &config_digest, config.clone().into_bytes())
        .await
        .unwrap();
    reg.put_blob(repo, &layer_digest, layer.clone().into_bytes())
        .await
        .unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": blob_descriptor(&config_digest, config.len(), "application/vnd.oci.image.config.v1+json"),
        "layers": [blob_descriptor(&layer_digest, layer.len(), "application/vnd.oci.image.layer.v1.tar")],
    });
    let manifest = Manifest::from_bytes(serde_json::to_vec(&manifest).unwrap(), OCI_MANIFEST);
    reg.put_manifest(repo, &manifest.digest, &manifest)
        .await
        .unwrap()
}

/// Pushes an index of `children` under `tag`.
async fn push_index(reg: &Registry, repo: &ImageRef, children: &[String], tag: &str) -> String {
    let mut entries = Vec::new();
    for (i, child) in children.iter().enumerate() {
        let m = reg
            .get_manifest(&repo.with_digest(child).unwrap())
            .await
            .unwrap();
        entries.push(serde_json::json!({
            "mediaType": OCI_MANIFEST, "digest": child, "size": m.bytes.len(),
            "platform": {"architecture": if i == 0 { "amd64" } else { "arm64" }, "os": "linux"}
        }));
    }
    let index =
        serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries});
    let manifest = Manifest::from_bytes(serde_json::to_vec(&index).unwrap(), OCI_INDEX);
    reg.put_manifest(repo, tag, &manifest).await.unwrap()
}

async fn tag(reg: &Registry, repo: &ImageRef, digest: &str, tag: &str) {
    let m = reg
        .get_manifest(&repo.with_digest(digest).unwrap())
        .await
        .unwrap();
    reg.put_manifest(repo, tag, &m).await.unwrap();
}

async fn exists(reg: &Registry, repo: &ImageRef, digest: &str) -> bool {
    reg.try_resolve(&repo.with_digest(digest).unwrap())
        .await
        .unwrap()
        .is_some()
}

struct Scenario {
    shared: String,
    expired_dev: String,
    young_dev: String,
    expired_staging: String,
    deployed: String,
    expired_prod: String,
    kept_index: String,
    kept_children: Vec<String>,
    dropped_index: String,
    dropped_children: Vec<String>,
    signature: String,
    unparseable: String,
}

async fn populate(reg: &Registry, repo: &ImageRef) -> Scenario {
    let shared = push_image(reg, repo, "shared").await;
    tag(reg, repo, &shared, &format!("dev-aaaaaaa-{}", ago(20))).await;
    tag(reg, repo, &shared, "prod-latest").await;
    let expired_dev = push_image(reg, repo, "expired-dev").await;
    tag(reg, repo, &expired_dev, &format!("dev-bbbbbbb-{}", ago(10))).await;
    let young_dev = push_image(reg, repo, "young-dev").await;
    tag(reg, repo, &young_dev, &format!("dev-ccccccc-{}", ago(2))).await;
    let expired_staging = push_image(reg, repo, "expired-staging").await;
    tag(
        reg,
        repo,
        &expired_staging,
        &format!("staging-ddddddd-{}", ago(40)),
    )
    .await;
    let deployed = push_image(reg, repo, "deployed").await;
    tag(reg, repo, &deployed, &format!("prod-fffffff-{}", ago(200))).await;
    let expired_prod = push_image(reg, repo, "expired-prod").await;
    tag(
        reg,
        repo,
        &expired_prod,
        &format!("prod-1234567-{}", ago(100)),
    )
    .await;
    let kept_children = vec![
        push_image(reg, repo, "kept-amd64").await,
        push_image(reg, repo, "kept-arm64").await,
    ];
    let kept_index = push_index(reg, repo, &kept_children, "staging-latest").await;
    let dropped_children = vec![
        push_image(reg, repo, "old-amd64").await,
        push_image(reg, repo, "old-arm64").await,
    ];
    let dropped_index = push_index(
        reg,
        repo,
        &dropped_children,
        &format!("dev-abcdef0-{}", ago(30)),
    )
    .await;
    let signature = push_image(reg, repo, "signature").await;
    let hex = shared.trim_start_matches("sha256:");
    tag(reg, repo, &signature, &format!("sha256-{hex}.sig")).await;
    let unparseable = push_image(reg, repo, "hand-made").await;
    tag(reg, repo, &unparseable, "hand-made").await;
    Scenario {
        shared,
        expired_dev,
        young_dev,
        expired_staging,
        deployed,
        expired_prod,
        kept_index,
        kept_children,
        dropped_index,
        dropped_children,
        signature,
        unparseable,
    }
}

#[test]
fn plans_and_applies_on_a_real_registry_without_deleting_anything_needed() {
    let registry = TestRegistry::start();
    let rt = runtime();
    let (reg, repo) = connect(&registry, 3);
    let s = rt.block_on(populate(&reg, &repo));
    let policy = policy("delete");
    let scheme = TagScheme::new(&policy).unwrap();
    let deployed = vec![DeployedDigest {
        environment: "production".to_owned(),
        digest: s.deployed.clone(),
    }];
    let input = RunInput {
        policy: &policy,
        scheme: &scheme,
        now: now(),
        deployed: &deployed,
        max_deletions: None,
    };
    let backend = OciBackend::new(reg.clone(), &repo, 4);

    // Dry run first: nothing is sent.
    let before = registry.requests().len();
    let (plan, report) = rt
        .block_on(run(
            &backend,
            &input,
            ExecuteOptions::default(),
            &NoProgress,
        ))
        .unwrap();
    assert!(!report.applied);
    assert!(
        registry.requests()[before..]
            .iter()
            .all(|r| r.method != "DELETE")
    );
    let reason = |t: &str| {
        let d = plan.tag(t).unwrap_or_else(|| panic!("{t} not in plan"));
        (d.action, d.reason.to_string())
    };
    assert_eq!(
        reason(&format!("dev-aaaaaaa-{}", ago(20))),
        (
            Action::Keep,
            "shares digest with kept tag prod-latest".to_owned()
        )
    );
    assert_eq!(reason("prod-latest"), (Action::Keep, "latest".to_owned()));
    assert_eq!(
        reason(&format!("dev-bbbbbbb-{}", ago(10))),
        (Action::Delete, "expired: 10d > 7d".to_owned())
    );
    assert_eq!(
        reason(&format!("prod-fffffff-{}", ago(200))),
        (Action::Keep, "deployed in production overlay".to_owned())
    );
    assert_eq!(
        reason("hand-made"),
        (Action::Keep, "unparseable tag name".to_owned())
    );
    let hex = s.shared.trim_start_matches("sha256:");
    assert_eq!(
        reason(&format!("sha256-{hex}.sig")),
        (
            Action::Keep,
            format!("signature of kept digest {}", &s.shared[..19])
        )
    );
    let kept_children: Vec<_> = plan
        .untagged
        .iter()
        .filter(|m| s.kept_children.contains(&m.digest))
        .collect();
    assert_eq!(kept_children.len(), 2);
    assert!(kept_children.iter().all(|m| m.action == Action::Keep
        && m.reason.to_string() == "index child of kept staging-latest"));
    // The expired index goes before its untagged children.
    let order: Vec<&str> = plan.deletions.iter().map(|d| d.digest.as_str()).collect();
    let pos = |d: &str| {
        order
            .iter()
            .position(|x| *x == d)
            .unwrap_or_else(|| panic!("{d} not deleted in\n{}", render_plan(&plan)))
    };
    assert!(pos(&s.dropped_index) < pos(&s.dropped_children[0]));
    assert!(pos(&s.dropped_index) < pos(&s.dropped_children[1]));
    insta::with_settings!({filters => vec![(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT")]}, {
        insta::assert_snapshot!("real_registry_plan", render_plan(&plan));
    });

    // Apply: one tag listing check, one re-resolve per planned tag, one DELETE per digest
    // (plus the single tag-DELETE probe that distribution 2.8 answers with 400).
    let mark = registry.requests().len();
    let report = rt.block_on(execute(
        &backend,
        &plan,
        ExecuteOptions {
            apply: true,
            concurrency: 4,
            ..ExecuteOptions::default()
        },
        &NoProgress,
    ));
    assert_eq!(report.failed(), 0, "{report:?}");
    assert_eq!(report.deleted(), plan.deletions.len());
    let made = registry.requests_since(mark);
    let deletes = made.iter().filter(|r| r.method == "DELETE").count();
    assert_eq!(deletes, plan.deletions.len() + 1, "{made:?}");

    rt.block_on(async {
        for gone in [
            &s.expired_dev,
            &s.expired_staging,
            &s.expired_prod,
            &s.dropped_index,
            &s.dropped_children[0],
            &s.dropped_children[1],
        ] {
            assert!(!exists(&reg, &repo, gone).await, "{gone} should be deleted");
        }
        for kept in [
            &s.shared,
            &s.young_dev,
            &s.deployed,
            &s.kept_index,
            &s.kept_children[0],
            &s.kept_children[1],
            &s.signature,
            &s.unparseable,
        ] {
            assert!(exists(&reg, &repo, kept).await, "{kept} should be kept");
        }
        let prod_latest = reg
            .resolve(&repo.with_tag("prod-latest").unwrap())
            .await
            .unwrap();
        assert_eq!(prod_latest.digest, s.shared);
    });
}

#[test]
fn a_tag_moved_or_added_between_plan_and_apply_is_skipped() {
    let registry = TestRegistry::start();
    let rt = runtime();
    let (reg, repo) = connect(&registry, 3);
    let (moved_from, other, protected_by_new_tag, plain) = rt.block_on(async {
        let a = push_image(&reg, &repo, "a").await;
        tag(&reg, &repo, &a, &format!("dev-aaaaaaa-{}", ago(10))).await;
        let b = push_image(&reg, &repo, "b").await;
        tag(&reg, &repo, &b, &format!("dev-bbbbbbb-{}", ago(2))).await;
        let c = push_image(&reg, &repo, "c").await;
        tag(&reg, &repo, &c, &format!("dev-ccccccc-{}", ago(11))).await;
        let d = push_image(&reg, &repo, "d").await;
        tag(&reg, &repo, &d, &format!("dev-ddddddd-{}", ago(12))).await;
        (a, b, c, d)
    });
    let backend = OciBackend::new(reg.clone(), &repo, 2);
    let plan = dry_run_plan(&rt, &backend);
    assert_eq!(plan.deletions.len(), 3);
    rt.block_on(async {
        // Someone re-points the expired tag at the young image...
        tag(&reg, &repo, &other, &format!("dev-aaaaaaa-{}", ago(10))).await;
        // ... and promotes the other expired image to production.
        tag(&reg, &repo, &protected_by_new_tag, "prod-latest").await;
    });
    let report = rt.block_on(execute(
        &backend,
        &plan,
        ExecuteOptions {
            apply: true,
            concurrency: 2,
            ..ExecuteOptions::default()
        },
        &NoProgress,
    ));
    let status = |digest: &str| status_of(&report, digest);
    assert_eq!(
        status(&moved_from),
        DeletionStatus::SkippedMoved {
            tag: format!("dev-aaaaaaa-{}", ago(10)),
            now: Some(other.clone()),
        }
    );
    assert_eq!(
        status(&protected_by_new_tag),
        DeletionStatus::SkippedMoved {
            tag: "prod-latest".to_owned(),
            now: Some(protected_by_new_tag.clone()),
        }
    );
    assert_eq!(status(&plain), DeletionStatus::Deleted);
    rt.block_on(async {
        assert!(exists(&reg, &repo, &moved_from).await);
        assert!(exists(&reg, &repo, &other).await);
        assert!(exists(&reg, &repo, &protected_by_new_tag).await);
        assert!(!exists(&reg, &repo, &plain).await);
    });
}

/// Stops the registry after `after` resolves.
struct StopAfter {
    registry: Mutex<Option<TestRegistry>>,
    done: AtomicU64,
    after: u64,
    deletes_seen: Mutex<Option<usize>>,
}

impl Progress for StopAfter {
    fn start(&self, _phase: &str, _total: u64) {}
    fn advance(&self, n: u64) {
        if self.done.fetch_add(n, Ordering::SeqCst) + n == self.after
            && let Some(registry) = self.registry.lock().unwrap().take()
        {
            let deletes = registry
                .requests()
                .iter()
                .filter(|r| r.method == "DELETE")
                .count();
            *self.deletes_seen.lock().unwrap() = Some(deletes);
            drop(registry);
        }
    }
    fn note(&self, _message: &str) {}
    fn finish(&self) {}
}

#[test]
fn a_registry_stopping_halfway_through_resolving_deletes_nothing() {
    let registry = TestRegistry::start();
    let rt = runtime();
    let (reg, repo) = connect(&registry, 2);
    rt.block_on(async {
        for i in 0..30 {
            let d = push_image(&reg, &repo, &format!("img{i}")).await;
            tag(&reg, &repo, &d, &format!("dev-{:07x}-{}", i, ago(30))).await;
        }
    });
    let policy = policy("keep");
    let scheme = TagScheme::new(&policy).unwrap();
    let backend = OciBackend::new(reg, &repo, 2);
    let stopper = StopAfter {
        registry: Mutex::new(Some(registry)),
        done: AtomicU64::new(0),
        after: 10,
        deletes_seen: Mutex::new(None),
    };
    let input = RunInput {
        policy: &policy,
        scheme: &scheme,
        now: now(),
        deployed: &[],
        max_deletions: None,
    };
    let result = rt.block_on(run(
        &backend,
        &input,
        ExecuteOptions {
            apply: true,
            concurrency: 2,
            ..ExecuteOptions::default()
        },
        &stopper,
    ));
    let err = result.expect_err("an incomplete inventory must fail");
    assert!(
        matches!(err, RetentionError::IncompleteResolve { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("nothing was deleted"), "{err}");
    assert_eq!(*stopper.deletes_seen.lock().unwrap(), Some(0));
    // The registry is gone, so no DELETE can have been sent after the check either.
    assert!(stopper.registry.lock().unwrap().is_none());
    assert!(backend.requests().unwrap() >= 11);
}

/// Re-points `tag` at `digest` from a client of its own (another thread, another runtime),
/// as a person or another pipeline would while retention runs.
fn retag_from_outside(registry_host: &str, digest: &str, tag_name: &str) {
    let repo = ImageRef::parse(&format!("{registry_host}/app")).unwrap();
    let digest = digest.to_owned();
    let tag_name = tag_name.to_owned();
    std::thread::spawn(move || {
        let rt = runtime();
        let reg = Registry::for_ref(&repo, &ConnectOptions::default()).unwrap();
        rt.block_on(tag(&reg, &repo, &digest, &tag_name));
    })
    .join()
    .unwrap();
}

#[test]
fn a_kept_moving_tag_re_pointed_at_a_planned_digest_before_apply_protects_it() {
    let registry = TestRegistry::start();
    let rt = runtime();
    let (reg, repo) = connect(&registry, 3);
    let (rolled_back_to, plain) = rt.block_on(async {
        let young = push_image(&reg, &repo, "young").await;
        tag(&reg, &repo, &young, &format!("prod-aaaaaaa-{}", ago(2))).await;
        tag(&reg, &repo, &young, "prod-latest").await;
        let old = push_image(&reg, &repo, "old").await;
        tag(&reg, &repo, &old, &format!("prod-bbbbbbb-{}", ago(100))).await;
        let older = push_image(&reg, &repo, "older").await;
        tag(&reg, &repo, &older, &format!("prod-ccccccc-{}", ago(120))).await;
        (old, older)
    });
    let backend = OciBackend::new(reg.clone(), &repo, 2);
    let plan = dry_run_plan(&rt, &backend);
    assert_eq!(plan.deletions.len(), 2);
    // A rollback by re-tagging: prod-latest (kept, existing) now names a planned digest. The
    // planned tags themselves did not move, so only the moving-tag check can see this.
    retag_from_outside(&registry.host(), &rolled_back_to, "prod-latest");
    let report = rt.block_on(execute(
        &backend,
        &plan,
        ExecuteOptions {
            apply: true,
            concurrency: 2,
            ..ExecuteOptions::default()
        },
        &NoProgress,
    ));
    let status = |digest: &str| status_of(&report, digest);
    assert_eq!(
        status(&rolled_back_to),
        DeletionStatus::SkippedMoved {
            tag: "prod-latest".to_owned(),
            now: Some(rolled_back_to.clone()),
        }
    );
    assert_eq!(status(&plain), DeletionStatus::Deleted);
    rt.block_on(async {
        assert!(exists(&reg, &repo, &rolled_back_to).await);
        assert!(!exists(&reg, &repo, &plain).await);
    });
    // Checked from outside our client too.
    assert_eq!(
        crate::support::registry::skopeo_raw_digest(&format!(
            "docker://{}/app:prod-latest",
            registry.host()
        )),
        rolled_back_to
    );
}

/// Re-points a kept tag at a planned digest after the first delete of a run.
struct MoveDuringRun {
    host: String,
    digest: String,
    tag: &'static str,
    deleting: std::sync::atomic::AtomicBool,
    moved: std::sync::atomic::AtomicBool,
}

impl Progress for MoveDuringRun {
    fn start(&self, phase: &str, _total: u64) {
        self.deleting.store(phase == "deleting", Ordering::SeqCst);
    }
    fn advance(&self, _n: u64) {
        if self.deleting.load(Ordering::SeqCst) && !self.moved.swap(true, Ordering::SeqCst) {
            retag_from_outside(&self.host, &self.digest, self.tag);
        }
    }
    fn note(&self, _message: &str) {}
    fn finish(&self) {}
}

#[test]
fn a_kept_tag_moved_while_deletions_run_is_seen_by_the_next_check() {
    let registry = TestRegistry::start();
    let rt = runtime();
    let (reg, repo) = connect(&registry, 3);
    let expired: Vec<String> = rt.block_on(async {
        let young = push_image(&reg, &repo, "young").await;
        tag(&reg, &repo, &young, "dev-latest").await;
        let mut out = Vec::new();
        for (i, days) in [30, 20, 10].into_iter().enumerate() {
            let d = push_image(&reg, &repo, &format!("expired{i}")).await;
            tag(&reg, &repo, &d, &format!("dev-{i:07x}-{}", ago(days))).await;
            out.push(d);
        }
        out
    });
    let backend = OciBackend::new(reg.clone(), &repo, 2);
    let plan = dry_run_plan(&rt, &backend);
    // Oldest first.
    let order: Vec<&str> = plan.deletions.iter().map(|d| d.digest.as_str()).collect();
    assert_eq!(order, [&expired[0], &expired[1], &expired[2]]);
    let mover = MoveDuringRun {
        host: registry.host(),
        digest: expired[2].clone(),
        tag: "dev-latest",
        deleting: false.into(),
        moved: false.into(),
    };
    let report = rt.block_on(execute(
        &backend,
        &plan,
        ExecuteOptions {
            apply: true,
            concurrency: 1,
            recheck_every: 1,
        },
        &mover,
    ));
    assert!(mover.moved.load(Ordering::SeqCst));
    let statuses: Vec<DeletionStatus> = report.outcomes.iter().map(|o| o.status.clone()).collect();
    assert_eq!(
        statuses,
        [
            DeletionStatus::Deleted,
            DeletionStatus::Deleted,
            DeletionStatus::SkippedMoved {
                tag: "dev-latest".to_owned(),
                now: Some(expired[2].clone()),
            },
        ]
    );
    rt.block_on(async {
        assert!(!exists(&reg, &repo, &expired[0]).await);
        assert!(!exists(&reg, &repo, &expired[1]).await);
        assert!(exists(&reg, &repo, &expired[2]).await);
    });
}

#[test]
fn a_hand_made_kept_tag_is_rechecked_while_they_are_few() {
    let registry = TestRegistry::start();
    let rt = runtime();
    let (reg, repo) = connect(&registry, 3);
    let expired: Vec<String> = rt.block_on(async {
        let young = push_image(&reg, &repo, "young").await;
        tag(&reg, &repo, &young, "dev-latest").await;
        // A hand-made name: kept (it does not parse) and free to be re-pointed.
        tag(&reg, &repo, &young, "stable").await;
        let mut out = Vec::new();
        for i in 0..10 {
            let d = push_image(&reg, &repo, &format!("expired{i}")).await;
            tag(&reg, &repo, &d, &format!("dev-{i:07x}-{}", ago(40 - i))).await;
            out.push(d);
        }
        out
    });
    let backend = OciBackend::new(reg.clone(), &repo, 2);
    let plan = dry_run_plan(&rt, &backend);
    assert_eq!(plan.deletions.len(), 10);
    assert_eq!(*plan.deletions[9].digest, *expired[9]);
    // Two moving tags, a check every 8 deletions: both are resolved at every check.
    let mover = MoveDuringRun {
        host: registry.host(),
        digest: expired[9].clone(),
        tag: "stable",
        deleting: false.into(),
        moved: false.into(),
    };
    let report = rt.block_on(execute(
        &backend,
        &plan,
        ExecuteOptions {
            apply: true,
            concurrency: 1,
            recheck_every: 8,
        },
        &mover,
    ));
    assert_eq!(report.deleted(), 9);
    assert_eq!(
        report.outcomes[9].status,
        DeletionStatus::SkippedMoved {
            tag: "stable".to_owned(),
            now: Some(expired[9].clone()),
        }
    );
    rt.block_on(async {
        assert!(exists(&reg, &repo, &expired[9]).await);
    });
}
