//! The DigitalOcean Container Registry backend against a local fake of its documented API
//! (wiremock): pagination, URL-encoded repository names, 403, 404, 429 and garbage collection.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::{TimeZone, Utc};
use gitops_core::policy::Policy;
use gitops_core::retention::digitalocean::DigitalOceanBackend;
use gitops_core::retention::{
    Action, DeletionStatus, ExecuteOptions, NoProgress, RetentionBackend, RetentionError, RunInput,
    run,
};
use gitops_core::tag::TagScheme;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REPO_PATH: &str = "/v2/registries/acme/repositories/team%2Fapi";

fn digest(n: u32) -> String {
    format!("sha256:{n:064x}")
}

fn do_tag(tag: &str, n: u32, updated: &str) -> serde_json::Value {
    serde_json::json!({
        "registry_name": "acme",
        "repository": "team/api",
        "tag": tag,
        "manifest_digest": digest(n),
        "compressed_size_bytes": 1000 + n,
        "size_bytes": 2000 + n,
        "updated_at": updated
    })
}

fn backend(server: &MockServer, gc: bool) -> DigitalOceanBackend {
    DigitalOceanBackend::new(&server.uri(), "do-token", "acme", "team/api", gc)
        .unwrap()
        .with_retry(3, Duration::from_millis(5))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn mount_listing(server: &MockServer) {
    let next = format!("https://api.digitalocean.com{REPO_PATH}/tags?page=2&per_page=100");
    Mock::given(method("GET"))
        .and(path(format!("{REPO_PATH}/tags")))
        .and(query_param("page", "1"))
        .and(header("authorization", "Bearer do-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "tags": [
                do_tag("dev-aaaaaaa-20251201-000000", 1, "2025-12-01T00:00:00Z"),
                do_tag("prod-latest", 2, "2025-11-01T00:00:00Z"),
            ],
            "meta": {"total": 4},
            "links": {"pages": {"next": next, "last": next}}
        })))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO_PATH}/tags")))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "tags": [
                do_tag("dev-bbbbbbb-20251219-000000", 3, "2025-12-19T00:00:00Z"),
                do_tag("hand-made", 1, "2025-10-01T00:00:00Z"),
                do_tag("dev-ccccccc-20251101-000000", 4, "2025-11-01T00:00:00Z"),
            ],
            "meta": {"total": 5},
            "links": {"pages": {}}
        })))
        .mount(server)
        .await;
}

fn input<'a>(policy: &'a Policy, scheme: &'a TagScheme) -> RunInput<'a> {
    RunInput {
        policy,
        scheme,
        now: Utc.with_ymd_and_hms(2025, 12, 20, 0, 0, 0).unwrap(),
        deployed: &[],
        max_deletions: None,
    }
}

fn policy() -> (Policy, TagScheme) {
    let mut policy = Policy::embedded_default();
    for env in policy.environments.values_mut() {
        env.retention.keep_min = 0;
    }
    let scheme = TagScheme::new(&policy).unwrap();
    (policy, scheme)
}

#[test]
fn lists_every_page_deletes_by_digest_and_starts_garbage_collection() {
    let rt = runtime();
    let server = rt.block_on(MockServer::start());
    rt.block_on(async {
        mount_listing(&server).await;
        Mock::given(method("DELETE"))
            .and(path(format!(
                "{REPO_PATH}/digests/sha256%3A{:064x}",
                4
            )))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v2/registries/acme/garbage-collection"))
            .and(body_json(serde_json::json!({"type": "untagged manifests and unreferenced blobs"})))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
                "garbage_collection": {"uuid": "gc-1", "registry_name": "acme", "status": "requested"}
            })))
            .expect(1)
            .mount(&server)
            .await;
    });
    let (policy, scheme) = policy();
    let backend = backend(&server, true);
    let (plan, report) = rt
        .block_on(run(
            &backend,
            &input(&policy, &scheme),
            ExecuteOptions {
                apply: true,
                concurrency: 2,
                ..ExecuteOptions::default()
            },
            &NoProgress,
        ))
        .unwrap();
    assert_eq!(plan.tags.len(), 5);
    // The expired dev tag shares its digest with an unparseable (kept) tag.
    assert_eq!(
        plan.tag("dev-aaaaaaa-20251201-000000")
            .unwrap()
            .reason
            .to_string(),
        "shares digest with kept tag hand-made"
    );
    assert_eq!(
        plan.tag("dev-ccccccc-20251101-000000").unwrap().action,
        Action::Delete
    );
    assert_eq!(plan.deletions.len(), 1);
    assert_eq!(plan.deletions[0].size, Some(2004));
    assert_eq!(report.outcomes[0].status, DeletionStatus::Deleted);
    assert!(report.garbage_collection_started);
    // 2 pages to plan, 2 pages to re-check, 1 delete, 1 garbage collection.
    assert_eq!(backend.requests(), Some(6));
    rt.block_on(server.verify());
}

#[test]
fn forbidden_listing_fails_closed_with_a_hint() {
    let rt = runtime();
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("GET"))
            .and(path(format!("{REPO_PATH}/tags")))
            .respond_with(ResponseTemplate::new(403).set_body_json(
                serde_json::json!({"id": "forbidden", "message": "You are not authorized to perform this operation"}),
            ))
            .mount(&server),
    );
    let (policy, scheme) = policy();
    let err = rt
        .block_on(run(
            &backend(&server, false),
            &input(&policy, &scheme),
            ExecuteOptions {
                apply: true,
                concurrency: 1,
                ..ExecuteOptions::default()
            },
            &NoProgress,
        ))
        .unwrap_err();
    assert!(
        matches!(err, RetentionError::IncompleteListing { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("nothing was deleted"), "{text}");
    assert!(text.contains("DIGITALOCEAN_TOKEN"), "{text}");
    assert!(
        !text.contains("do-token"),
        "the token must never be printed: {text}"
    );
}

#[test]
fn rate_limited_answers_are_retried_and_a_404_delete_means_already_gone() {
    let rt = runtime();
    let server = rt.block_on(MockServer::start());
    rt.block_on(async {
        Mock::given(method("GET"))
            .and(path(format!("{REPO_PATH}/tags")))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("ratelimit-remaining", "0")
                    .insert_header("retry-after", "0"),
            )
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("{REPO_PATH}/tags")))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "tags": [do_tag("dev-ccccccc-20251101-000000", 4, "2025-11-01T00:00:00Z")],
                "meta": {"total": 1}
            })))
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .respond_with(ResponseTemplate::new(404).set_body_json(
                serde_json::json!({"id": "not_found", "message": "manifest not found"}),
            ))
            .mount(&server)
            .await;
    });
    let (policy, scheme) = policy();
    let backend = backend(&server, true);
    let (_, report) = rt
        .block_on(run(
            &backend,
            &input(&policy, &scheme),
            ExecuteOptions {
                apply: true,
                concurrency: 1,
                ..ExecuteOptions::default()
            },
            &NoProgress,
        ))
        .unwrap();
    assert_eq!(report.outcomes[0].status, DeletionStatus::AlreadyGone);
    // Nothing was really deleted, so no garbage collection is started.
    assert!(!report.garbage_collection_started);
}

#[test]
fn a_missing_token_is_a_configuration_error() {
    let err =
        DigitalOceanBackend::new("http://127.0.0.1:1", " ", "acme", "api", false).unwrap_err();
    assert!(err.to_string().contains("DIGITALOCEAN_TOKEN"));
}
