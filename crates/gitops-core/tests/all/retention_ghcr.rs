//! The GHCR backend (GitHub Packages API through octocrab) against a local fake built from the
//! documented requests and responses (wiremock): Link pagination, versions with their tags,
//! the last tagged version, 403, 404 and secondary rate limits (429, 403 with headers).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::{TimeZone, Utc};
use gitops_core::policy::Policy;
use gitops_core::retention::ghcr::{GhcrBackend, OwnerKind};
use gitops_core::retention::{
    Action, DeletionStatus, ExecuteOptions, NoProgress, RetentionBackend, RetentionError, RunInput,
    execute, plan, run,
};
use gitops_core::tag::TagScheme;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const VERSIONS: &str = "/orgs/acme/packages/container/team%2Fapi/versions";

fn digest(n: u32) -> String {
    format!("sha256:{n:064x}")
}

fn version(id: u64, n: u32, tags: &[&str], created: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "name": digest(n),
        "url": format!("https://api.github.com/orgs/acme/packages/container/team%2Fapi/versions/{id}"),
        "package_html_url": "https://github.com/orgs/acme/packages/container/package/team%2Fapi",
        "created_at": created,
        "updated_at": created,
        "html_url": format!("https://github.com/orgs/acme/packages/container/team%2Fapi/{id}"),
        "metadata": {"package_type": "container", "container": {"tags": tags}}
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn policy() -> (Policy, TagScheme) {
    let mut policy = Policy::embedded_default();
    for env in policy.environments.values_mut() {
        env.retention.keep_min = 0;
    }
    let scheme = TagScheme::new(&policy).unwrap();
    (policy, scheme)
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

fn backend(server: &MockServer) -> GhcrBackend {
    GhcrBackend::new(
        &server.uri(),
        "gh-token",
        "acme",
        OwnerKind::Org,
        "team/api",
    )
    .unwrap()
    .with_retry(3, Duration::from_millis(20))
}

async fn mount_two_pages(server: &MockServer) {
    let next = format!(
        "{}{VERSIONS}?per_page=100&state=active&page=2",
        server.uri()
    );
    Mock::given(method("GET"))
        .and(path(VERSIONS))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([
            version(
                3,
                3,
                &["dev-ccccccc-20251101-000000"],
                "2025-11-01T00:00:00Z"
            ),
            // An untagged version (a multi-arch child, say): never offered for deletion.
            version(4, 4, &[], "2025-01-01T00:00:00Z"),
        ])))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(VERSIONS))
        .and(header("authorization", "Bearer gh-token"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "link",
                    format!("<{next}>; rel=\"next\", <{next}>; rel=\"last\"").as_str(),
                )
                .set_body_json(serde_json::json!([
                    version(
                        1,
                        1,
                        &["prod-latest", "dev-aaaaaaa-20251101-000000"],
                        "2025-11-01T00:00:00Z"
                    ),
                    version(
                        2,
                        2,
                        &["dev-bbbbbbb-20251215-000000"],
                        "2025-12-15T00:00:00Z"
                    ),
                ])),
        )
        .mount(server)
        .await;
}

#[test]
fn deletes_expired_versions_after_following_every_page() {
    let rt = runtime();
    let server = rt.block_on(MockServer::start());
    rt.block_on(async {
        mount_two_pages(&server).await;
        Mock::given(method("DELETE"))
            .and(path(format!("{VERSIONS}/3")))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path(format!("{VERSIONS}/3")))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
    });
    let (policy, scheme) = policy();
    let _guard = rt.enter();
    let backend = backend(&server);
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
    assert_eq!(plan.tags.len(), 4);
    assert!(
        plan.untagged.is_empty(),
        "untagged GHCR versions are left alone"
    );
    assert_eq!(
        plan.tag("dev-aaaaaaa-20251101-000000")
            .unwrap()
            .reason
            .to_string(),
        "shares digest with kept tag prod-latest"
    );
    assert_eq!(
        plan.tag("dev-ccccccc-20251101-000000").unwrap().action,
        Action::Delete
    );
    assert_eq!(report.outcomes.len(), 1);
    assert_eq!(report.outcomes[0].status, DeletionStatus::Deleted);
    rt.block_on(server.verify());
}

#[test]
fn never_deletes_the_last_tagged_version() {
    let rt = runtime();
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("GET"))
            .and(path(VERSIONS))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!([version(
                    9,
                    9,
                    &["dev-ddddddd-20251001-000000"],
                    "2025-10-01T00:00:00Z"
                ),])),
            )
            .mount(&server),
    );
    let (policy, scheme) = policy();
    let _guard = rt.enter();
    let backend = backend(&server);
    let inventory = rt.block_on(backend.inventory(&NoProgress)).unwrap();
    let planned = plan(&gitops_core::retention::PlanInput {
        policy: &policy,
        scheme: &scheme,
        now: Utc.with_ymd_and_hms(2025, 12, 20, 0, 0, 0).unwrap(),
        inventory: &inventory,
        deployed: &[],
        max_deletions: None,
    })
    .unwrap();
    assert_eq!(planned.deletions.len(), 1);
    let report = rt.block_on(execute(
        &backend,
        &planned,
        ExecuteOptions {
            apply: true,
            concurrency: 1,
            ..ExecuteOptions::default()
        },
        &NoProgress,
    ));
    match &report.outcomes[0].status {
        DeletionStatus::Failed { error } => {
            assert!(error.contains("last tagged version"), "{error}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let requests = rt.block_on(server.received_requests()).unwrap();
    assert!(requests.iter().all(|r| r.method.as_str() != "DELETE"));
}

#[test]
fn forbidden_and_missing_packages_fail_closed_with_hints() {
    let rt = runtime();
    let server = rt.block_on(MockServer::start());
    rt.block_on(async {
        Mock::given(method("GET"))
            .and(path(VERSIONS))
            .respond_with(ResponseTemplate::new(403).set_body_json(serde_json::json!({
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest/packages/packages"
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/users/someone/packages/container/api/versions"))
            .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({
                "message": "Package not found.",
                "documentation_url": "https://docs.github.com/rest/packages/packages"
            })))
            .mount(&server)
            .await;
    });
    let (policy, scheme) = policy();
    let _guard = rt.enter();
    let err = rt
        .block_on(run(
            &backend(&server),
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
    assert!(err.to_string().contains("read:packages"), "{err}");
    assert!(!err.to_string().contains("gh-token"));

    let user = GhcrBackend::new(&server.uri(), "gh-token", "someone", OwnerKind::User, "api")
        .unwrap()
        .with_retry(2, Duration::from_millis(5));
    let err = rt.block_on(user.inventory(&NoProgress)).unwrap_err();
    assert!(err.to_string().contains("Package not found"), "{err}");
}

#[test]
fn secondary_rate_limit_on_listing_is_retried_then_reported() {
    let rt = runtime();
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("GET"))
            .and(path(VERSIONS))
            .respond_with(
                ResponseTemplate::new(403)
                    .insert_header("x-ratelimit-remaining", "0")
                    .insert_header("retry-after", "0")
                    .set_body_json(
                        serde_json::json!({"message": "You have exceeded a secondary rate limit."}),
                    ),
            )
            .expect(3)
            .mount(&server),
    );
    let _guard = rt.enter();
    let err = rt
        .block_on(backend(&server).inventory(&NoProgress))
        .unwrap_err();
    assert!(err.to_string().contains("rate-limited"), "{err}");
    rt.block_on(server.verify());
}
