//! Registry backends against a real `docker-registry` on loopback and an OCI layout folder:
//! push, promotion within and across repositories, multi-arch indexes, listing, deletion,
//! and faults (retries, rate limits, refused connections, rejected writes, bad credentials).

use std::time::Duration;

use gitops_core::image_ref::ImageRef;
use gitops_core::registry::auth::{CredentialSource, Credentials};
use gitops_core::registry::promote::{PromoteOptions, promote};
use gitops_core::registry::push::{ImageSource, PushOptions, build_annotations, push};
use gitops_core::registry::{ConnectOptions, Registry, RegistryError, TagDeletion};

use crate::support::registry::{
    Fault, FaultProxy, TestRegistry, pack_layout_tar, skopeo_raw_digest, write_image, write_index,
};

fn options() -> ConnectOptions {
    ConnectOptions {
        base_delay: Duration::from_millis(10),
        credentials: CredentialSource::Anonymous,
        ..ConnectOptions::default()
    }
}

fn r(text: &str) -> ImageRef {
    ImageRef::parse(text).expect("valid reference")
}

fn tags(list: &[&str]) -> Vec<String> {
    list.iter().map(|t| (*t).to_owned()).collect()
}

/// Where the cases run: a real registry or an OCI layout folder.
enum Store {
    Http(TestRegistry),
    Layout(tempfile::TempDir),
}

impl Store {
    fn http() -> Self {
        Self::Http(TestRegistry::start())
    }
    fn layout() -> Self {
        Self::Layout(tempfile::tempdir().expect("tempdir"))
    }
    /// The repository reference `name` (for a layout, a sub-directory per repository).
    fn repo(&self, name: &str) -> ImageRef {
        match self {
            Self::Http(reg) => r(&format!("{}/{name}", reg.host())),
            Self::Layout(dir) => r(&format!("oci:{}", dir.path().join(name).display())),
        }
    }
    fn registry(&self, repo: &ImageRef) -> Registry {
        Registry::for_ref(repo, &options()).expect("backend")
    }
    /// The digest `repo:tag` resolves to, read from outside our code (skopeo for HTTP).
    fn outside_digest(&self, repo: &ImageRef, tag: &str) -> String {
        match self {
            Self::Http(_) => skopeo_raw_digest(&format!("docker://{}:{tag}", repo.name())),
            Self::Layout(_) => {
                let index: serde_json::Value = serde_json::from_slice(
                    &std::fs::read(std::path::Path::new(&repo.repository).join("index.json"))
                        .expect("index.json"),
                )
                .expect("json");
                index["manifests"]
                    .as_array()
                    .expect("manifests")
                    .iter()
                    .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
                    .and_then(|m| m["digest"].as_str())
                    .expect("tag in index.json")
                    .to_owned()
            }
        }
    }
    fn mark(&self) -> usize {
        match self {
            Self::Http(reg) => reg.requests().len(),
            Self::Layout(_) => 0,
        }
    }
    /// Requests since `mark` as `METHOD path` (HTTP only; empty for layouts).
    fn requests_since(&self, mark: usize) -> Vec<String> {
        match self {
            Self::Http(reg) => reg
                .requests_since(mark)
                .into_iter()
                .map(|q| format!("{} {}", q.method, q.path))
                .collect(),
            Self::Layout(_) => Vec::new(),
        }
    }
}

async fn push_synthetic(
    store: &Store,
    repo: &ImageRef,
    layers: &[usize],
    seed: u64,
    tag: &str,
) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = write_image(&dir.path().join("img"), layers, seed, &["built"]);
    let source = ImageSource::open(&image.layout).expect("layout");
    let outcome = push(
        &source,
        &store.registry(repo),
        repo,
        &tags(&[tag]),
        &PushOptions::default(),
    )
    .await
    .expect("push");
    assert_eq!(
        outcome.plan.digest, image.digest,
        "no annotations: digest unchanged"
    );
    outcome.plan.digest
}

async fn promotion_within_a_repository(store: Store) {
    let repo = store.repo("app");
    let digest = push_synthetic(
        &store,
        &repo,
        &[4096, 8192],
        1,
        "dev-abc1234-20260101-000000",
    )
    .await;
    let registry = store.registry(&repo);
    let mark = store.mark();
    let outcome = promote(
        &registry,
        &repo.with_tag("dev-abc1234-20260101-000000").expect("tag"),
        &registry,
        &repo,
        &tags(&["staging-abc1234-20260102-000000", "staging-latest"]),
        &PromoteOptions {
            moving_tag: Some("staging-latest".into()),
            ..PromoteOptions::default()
        },
    )
    .await
    .expect("promote");
    let mut made = store.requests_since(mark);
    assert_eq!(outcome.plan.digest, digest);
    assert_eq!(outcome.plan.tags_to_write.len(), 2);
    assert!(
        outcome.plan.blobs.is_empty(),
        "no blob traffic within a repository"
    );
    for tag in [
        "dev-abc1234-20260101-000000",
        "staging-abc1234-20260102-000000",
        "staging-latest",
    ] {
        assert_eq!(store.outside_digest(&repo, tag), digest, "{tag}");
    }
    if let Store::Http(_) = store {
        let path = "/v2/app/manifests";
        // The GET and the HEAD go out together, then both PUTs together.
        made.sort();
        assert_eq!(
            made,
            [
                format!("GET {path}/dev-abc1234-20260101-000000"),
                format!("HEAD {path}/staging-latest"),
                format!("PUT {path}/staging-abc1234-20260102-000000"),
                format!("PUT {path}/staging-latest"),
            ]
        );
        assert!(!made.iter().any(|m| m.contains("/blobs/")), "{made:?}");
        assert_eq!(outcome.traffic.requests, 4);
        assert!(outcome.traffic.bytes_sent + outcome.traffic.bytes_received < 64 * 1024);
    }

    // An idempotent re-run writes nothing.
    let mark = store.mark();
    let again = promote(
        &registry,
        &repo.with_tag("dev-abc1234-20260101-000000").expect("tag"),
        &registry,
        &repo,
        &tags(&["staging-abc1234-20260103-000000", "staging-latest"]),
        &PromoteOptions {
            moving_tag: Some("staging-latest".into()),
            ..PromoteOptions::default()
        },
    )
    .await
    .expect("re-run");
    assert!(again.plan.is_noop());
    assert_eq!(again.plan.tags_skipped.len(), 2);
    assert!(
        !store
            .requests_since(mark)
            .iter()
            .any(|m| m.starts_with("PUT"))
    );
    let listed = registry.list_tags(&repo).await.expect("tags");
    assert_eq!(
        listed,
        tags(&[
            "dev-abc1234-20260101-000000",
            "staging-abc1234-20260102-000000",
            "staging-latest"
        ])
    );
}

#[tokio::test]
async fn promotes_within_a_repository_on_a_registry() {
    promotion_within_a_repository(Store::http()).await;
}

#[tokio::test]
async fn promotes_within_a_repository_in_a_layout() {
    promotion_within_a_repository(Store::layout()).await;
}

async fn multi_arch_across_repositories(store: Store) {
    let source_repo = store.repo("app");
    let target_repo = store.repo("mirror");
    let dir = tempfile::tempdir().expect("tempdir");
    let index = write_index(&dir.path().join("idx"), &[2048, 1024], 7, &["built"]);
    let source = ImageSource::open(&index.layout).expect("layout");
    let src = store.registry(&source_repo);
    let pushed = push(
        &source,
        &src,
        &source_repo,
        &tags(&["dev-1"]),
        &PushOptions::default(),
    )
    .await
    .expect("push index");
    assert_eq!(pushed.plan.digest, index.digest);
    assert_eq!(pushed.plan.child_manifests.len(), 2);

    let dst = store.registry(&target_repo);
    let mark = store.mark();
    let outcome = promote(
        &src,
        &source_repo.with_digest(&index.digest).expect("digest"),
        &dst,
        &target_repo,
        &tags(&["staging-1", "staging-latest"]),
        &PromoteOptions {
            moving_tag: Some("staging-latest".into()),
            concurrency: 2,
            ..PromoteOptions::default()
        },
    )
    .await
    .expect("promote across repositories");
    assert_eq!(outcome.plan.digest, index.digest);
    assert_eq!(outcome.plan.child_manifests.len(), 2);
    assert_eq!(
        store.outside_digest(&target_repo, "staging-1"),
        index.digest
    );
    // The index keeps its children: each resolves in the target by digest.
    for child in &index.children {
        let got = dst
            .get_manifest(&target_repo.with_digest(&child.digest).expect("digest"))
            .await
            .expect("child present");
        assert_eq!(got.digest, child.digest);
        for layer in &child.layers {
            assert!(
                dst.has_blob(&target_repo, &layer.digest)
                    .await
                    .expect("head")
            );
        }
    }
    if let Store::Http(_) = store {
        let made = store.requests_since(mark);
        assert!(made.iter().any(|m| m.contains("mount=")), "{made:?}");
        // Mounted, not uploaded: no blob bytes were PUT.
        assert!(
            !made
                .iter()
                .any(|m| m.starts_with("PUT") && m.contains("/blobs/uploads/")),
            "{made:?}"
        );
        assert!(outcome.traffic.bytes_sent < 16 * 1024);
    }
}

#[tokio::test]
async fn multi_arch_index_promoted_across_repositories_on_a_registry() {
    multi_arch_across_repositories(Store::http()).await;
}

#[tokio::test]
async fn multi_arch_index_copied_across_layouts() {
    multi_arch_across_repositories(Store::layout()).await;
}

async fn push_with_existing_layers(store: Store) {
    let repo = store.repo("app");
    let dir = tempfile::tempdir().expect("tempdir");
    let image = write_image(
        &dir.path().join("img"),
        &[1000, 2000, 3000, 4000, 5000],
        3,
        &["built"],
    );
    let tar = dir.path().join("image.tar");
    pack_layout_tar(&image.layout, &tar);
    let source = ImageSource::open(&tar).expect("tar");
    let registry = store.registry(&repo);
    push(
        &source,
        &registry,
        &repo,
        &tags(&["dev-1"]),
        &PushOptions::default(),
    )
    .await
    .expect("first push");
    let mark = store.mark();
    let annotations = build_annotations(Some(&"a".repeat(40)), Some(&"b".repeat(40)));
    let second = push(
        &source,
        &registry,
        &repo,
        &tags(&["dev-2", "dev-latest"]),
        &PushOptions {
            annotations,
            ..PushOptions::default()
        },
    )
    .await
    .expect("second push");
    assert_ne!(
        second.plan.digest, image.digest,
        "annotations make a new manifest"
    );
    let pushed = registry
        .get_manifest(&repo.with_tag("dev-latest").expect("tag"))
        .await
        .expect("get");
    assert_eq!(
        pushed.annotations().expect("ann")["dev.gitops.tree"],
        "b".repeat(40)
    );
    assert_eq!(pushed.digest, second.plan.digest);
    if let Store::Http(_) = store {
        let made = store.requests_since(mark);
        assert!(
            made.iter().all(|m| m.starts_with("HEAD /v2/app/blobs/")
                || m.starts_with("PUT /v2/app/manifests/")
                || m.starts_with("GET /v2/app/manifests/dev-latest")),
            "{made:?}"
        );
        assert_eq!(made.iter().filter(|m| m.starts_with("HEAD")).count(), 6);
    }
}

#[tokio::test]
async fn push_of_existing_layers_is_heads_and_manifest_puts_on_a_registry() {
    push_with_existing_layers(Store::http()).await;
}

#[tokio::test]
async fn push_from_a_tar_into_a_layout() {
    push_with_existing_layers(Store::layout()).await;
}

#[tokio::test]
async fn tag_deletion_support_differs_by_backend() {
    for store in [Store::http(), Store::layout()] {
        let repo = store.repo("app");
        let digest = push_synthetic(&store, &repo, &[100], 9, "dev-1").await;
        let registry = store.registry(&repo);
        let result = registry
            .delete_tag(&repo, "dev-1")
            .await
            .expect("delete tag");
        match store {
            Store::Http(_) => assert_eq!(result, TagDeletion::OnlyDigestDeletion),
            Store::Layout(_) => assert_eq!(result, TagDeletion::Deleted),
        }
        if result == TagDeletion::OnlyDigestDeletion {
            registry
                .delete_manifest(&repo, &digest)
                .await
                .expect("delete digest");
        }
        let gone = registry
            .try_resolve(&repo.with_tag("dev-1").expect("tag"))
            .await
            .expect("resolve");
        assert_eq!(gone, None);
    }
}

#[tokio::test]
async fn missing_tag_is_not_found_and_names_the_reference() {
    let store = Store::http();
    let repo = store.repo("app");
    let err = store
        .registry(&repo)
        .get_manifest(&repo.with_tag("nope").expect("tag"))
        .await
        .expect_err("missing");
    assert!(matches!(err, RegistryError::NotFound { .. }));
    assert!(err.to_string().contains("app:nope"), "{err}");
    assert!(
        store
            .registry(&repo)
            .list_tags(&repo)
            .await
            .expect("tags")
            .is_empty()
    );
}

#[tokio::test]
async fn retries_503_twice_then_succeeds() {
    let store = Store::http();
    let Store::Http(reg) = &store else { return };
    let repo = store.repo("app");
    push_synthetic(&store, &repo, &[10], 2, "dev-1").await;
    let proxy = FaultProxy::start(reg.port(), vec![Fault::status(503), Fault::status(503)]);
    let via = r(&format!("{}/app:dev-1", proxy.host()));
    let registry = Registry::for_ref(&via, &options()).expect("backend");
    let manifest = registry.get_manifest(&via).await.expect("retried");
    assert_eq!(proxy.seen().len(), 3, "{:?}", proxy.seen());
    assert_eq!(registry.stats().requests, 3);
    assert!(!manifest.bytes.is_empty());
}

#[tokio::test]
async fn honours_retry_after_on_429() {
    let store = Store::http();
    let Store::Http(reg) = &store else { return };
    let repo = store.repo("app");
    push_synthetic(&store, &repo, &[10], 4, "dev-1").await;
    let mut fault = Fault::status(429);
    fault.headers.push("Retry-After: 1".into());
    let proxy = FaultProxy::start(reg.port(), vec![fault]);
    let via = r(&format!("{}/app:dev-1", proxy.host()));
    let registry = Registry::for_ref(&via, &options()).expect("backend");
    registry.resolve(&via).await.expect("after Retry-After");
    assert_eq!(proxy.seen().len(), 2);
}

#[tokio::test]
async fn gives_up_after_bounded_attempts() {
    let store = Store::http();
    let Store::Http(reg) = &store else { return };
    let proxy = FaultProxy::start(reg.port(), (0..10).map(|_| Fault::status(502)).collect());
    let via = r(&format!("{}/app:dev-1", proxy.host()));
    let registry = Registry::for_ref(
        &via,
        &ConnectOptions {
            max_attempts: 3,
            ..options()
        },
    )
    .expect("backend");
    let err = registry.resolve(&via).await.expect_err("exhausted");
    assert!(
        matches!(
            err,
            RegistryError::Exhausted {
                attempts: 3,
                status: 502,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(proxy.seen().len(), 3);
}

#[tokio::test]
async fn connection_refused_is_a_clear_error() {
    let port = crate::support::registry::free_port();
    let via = r(&format!("127.0.0.1:{port}/app:dev-1"));
    let registry = Registry::for_ref(
        &via,
        &ConnectOptions {
            max_attempts: 2,
            ..options()
        },
    )
    .expect("backend");
    let err = registry.resolve(&via).await.expect_err("refused");
    let text = err.to_string();
    assert!(
        matches!(err, RegistryError::Unreachable { attempts: 2, .. }),
        "{text}"
    );
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
}

#[tokio::test]
async fn rejected_manifest_put_names_the_tag() {
    let store = Store::http();
    let Store::Http(reg) = &store else { return };
    let repo = store.repo("app");
    push_synthetic(&store, &repo, &[10], 5, "dev-1").await;
    let proxy = FaultProxy::start(
        reg.port(),
        vec![Fault {
            method: Some("PUT"),
            status: 400,
            headers: Vec::new(),
            body: r#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}"#.into(),
        }],
    );
    let via = r(&format!("{}/app", proxy.host()));
    let registry = Registry::for_ref(&via, &options()).expect("backend");
    let err = promote(
        &registry,
        &via.with_tag("dev-1").expect("tag"),
        &registry,
        &via,
        &tags(&["staging-latest"]),
        &PromoteOptions::default(),
    )
    .await
    .expect_err("rejected");
    let text = err.to_string();
    assert!(
        text.contains("staging-latest") && text.contains("MANIFEST_INVALID"),
        "{text}"
    );
}

#[tokio::test]
async fn wrong_credentials_give_a_clear_message_without_the_secret() {
    let reg = TestRegistry::start_with_htpasswd("ci", "right-password");
    let repo = r(&format!("{}/app", reg.host()));
    let secret = "wr0ng-s3cret-value";
    let wrong = ConnectOptions {
        credentials: CredentialSource::Fixed(Credentials::Basic {
            username: "ci".into(),
            password: secret.into(),
        }),
        ..options()
    };
    let err = Registry::for_ref(&repo, &wrong)
        .expect("backend")
        .list_tags(&repo)
        .await
        .expect_err("401");
    let text = err.to_string();
    assert!(
        matches!(err, RegistryError::Unauthorized { status: 401, .. }),
        "{text}"
    );
    assert!(
        text.contains("as user ci") && !text.contains(secret),
        "{text}"
    );
    assert!(!format!("{err:?}").contains(secret));

    // The right password works through the Basic challenge.
    let right = ConnectOptions {
        credentials: CredentialSource::Fixed(Credentials::Basic {
            username: "ci".into(),
            password: "right-password".into(),
        }),
        ..options()
    };
    let registry = Registry::for_ref(&repo, &right).expect("backend");
    assert!(
        registry
            .list_tags(&repo)
            .await
            .expect("authorised")
            .is_empty()
    );
}

#[tokio::test]
async fn bearer_challenge_flow_with_cross_repository_mount_scope() {
    let store = Store::http();
    let Store::Http(reg) = &store else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let image = write_image(&dir.path().join("img"), &[500], 21, &["built"]);
    let proxy = FaultProxy::start_bearer(reg.port(), "robot", "t0p-secret");
    let src_repo = r(&format!("{}/team/app", proxy.host()));
    let dst_repo = r(&format!("{}/team/mirror", proxy.host()));
    let creds = ConnectOptions {
        credentials: CredentialSource::Fixed(Credentials::Basic {
            username: "robot".into(),
            password: "t0p-secret".into(),
        }),
        ..options()
    };
    let registry = Registry::for_ref(&src_repo, &creds).expect("backend");
    let source = ImageSource::open(&image.layout).expect("layout");
    push(
        &source,
        &registry,
        &src_repo,
        &tags(&["dev-1"]),
        &PushOptions::default(),
    )
    .await
    .expect("push through the token flow");
    let outcome = promote(
        &registry,
        &src_repo.with_tag("dev-1").expect("tag"),
        &registry,
        &dst_repo,
        &tags(&["staging-1"]),
        &PromoteOptions::default(),
    )
    .await
    .expect("mount through the token flow");
    assert!(outcome.plan.blobs.iter().all(|b| matches!(
        b.action,
        gitops_core::registry::promote::BlobAction::Mount { .. }
    )));
    let seen = proxy.seen();
    // The mount token covers the target's push and the source's pull scope.
    assert!(
        seen.iter().any(|l| l.starts_with("GET /token")
            && l.contains("scope=repository%3Ateam%2Fmirror%3Apull%2Cpush")
            && l.contains("scope=repository%3Ateam%2Fapp%3Apull")),
        "{seen:?}"
    );
    assert!(seen.iter().any(|l| l.contains("mount=")), "{seen:?}");
    assert_eq!(
        skopeo_raw_digest(&format!("docker://{}/team/mirror:staging-1", reg.host())),
        image.digest
    );

    // Wrong password: the token endpoint refuses; the message names the user, not the secret.
    let wrong = ConnectOptions {
        credentials: CredentialSource::Fixed(Credentials::Basic {
            username: "robot".into(),
            password: "not-the-s3cret".into(),
        }),
        ..options()
    };
    let err = Registry::for_ref(&src_repo, &wrong)
        .expect("backend")
        .list_tags(&src_repo)
        .await
        .expect_err("refused");
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
    assert!(!err.to_string().contains("not-the-s3cret"));
}

#[tokio::test]
async fn tag_listing_follows_link_pages_and_stops_on_repeats() {
    let store = Store::http();
    let Store::Http(reg) = &store else { return };
    let page = |tags: &str, next: Option<&str>| Fault {
        method: Some("GET"),
        status: 200,
        headers: next
            .map(|n| vec![format!("Link: <{n}>; rel=\"next\"")])
            .unwrap_or_default(),
        body: format!(r#"{{"name":"app","tags":[{tags}]}}"#),
    };
    let proxy = FaultProxy::start(
        reg.port(),
        vec![
            page(r#""b","a""#, Some("/v2/app/tags/list?last=b&n=2")),
            page(r#""c","a""#, Some("/v2/app/tags/list?last=c&n=2")),
            // A registry that keeps repeating itself: no new tags ends the listing.
            page(r#""c""#, Some("/v2/app/tags/list?last=c&n=2")),
        ],
    );
    let repo = r(&format!("{}/app", proxy.host()));
    let listed = Registry::for_ref(&repo, &options())
        .expect("backend")
        .list_tags(&repo)
        .await
        .expect("complete listing");
    assert_eq!(listed, tags(&["a", "b", "c"]));
    assert_eq!(proxy.seen().len(), 3);

    // A failing page is an error, never a partial list.
    let proxy = FaultProxy::start(
        reg.port(),
        vec![
            page(r#""a""#, Some("/v2/app/tags/list?last=a&n=1")),
            Fault {
                method: Some("GET"),
                ..Fault::status(500)
            },
        ],
    );
    let repo = r(&format!("{}/app", proxy.host()));
    let err = Registry::for_ref(&repo, &options())
        .expect("backend")
        .list_tags(&repo)
        .await
        .expect_err("incomplete");
    assert!(
        matches!(err, RegistryError::IncompleteListing { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn refused_mount_cancels_the_session_and_uploads() {
    let store = Store::http();
    let repo = store.repo("app");
    let dir = tempfile::tempdir().expect("tempdir");
    let image = write_image(&dir.path().join("img"), &[700, 800], 31, &["built"]);
    let source = ImageSource::open(&image.layout).expect("layout");
    let registry = store.registry(&repo);
    let mark = store.mark();
    let outcome = push(
        &source,
        &registry,
        &repo,
        &tags(&["dev-1"]),
        &PushOptions {
            mount_from: Some("nowhere".into()),
            ..PushOptions::default()
        },
    )
    .await
    .expect("push");
    assert_eq!(outcome.plan.digest, image.digest);
    let made = store.requests_since(mark);
    let mounts = made.iter().filter(|m| m.contains("mount=")).count();
    let cancels = made
        .iter()
        .filter(|m| m.starts_with("DELETE /v2/app/blobs/uploads/"))
        .count();
    assert_eq!(mounts, 3, "{made:?}");
    assert_eq!(
        cancels, 3,
        "every refused mount's session is cancelled: {made:?}"
    );
    assert_eq!(store.outside_digest(&repo, "dev-1"), image.digest);
}

#[tokio::test]
async fn promotes_across_registries_by_copying_bytes() {
    let (a, b) = (Store::http(), Store::http());
    let source_repo = a.repo("app");
    let target_repo = b.repo("app");
    let digest = push_synthetic(&a, &source_repo, &[1500, 2500], 41, "dev-1").await;
    let outcome = promote(
        &a.registry(&source_repo),
        &source_repo.with_tag("dev-1").expect("tag"),
        &b.registry(&target_repo),
        &target_repo,
        &tags(&["prod-1", "prod-latest"]),
        &PromoteOptions {
            moving_tag: Some("prod-latest".into()),
            concurrency: 2,
            ..PromoteOptions::default()
        },
    )
    .await
    .expect("copy");
    assert!(
        outcome
            .plan
            .blobs
            .iter()
            .all(|b| b.action == gitops_core::registry::promote::BlobAction::Copy)
    );
    assert_eq!(b.outside_digest(&target_repo, "prod-latest"), digest);
    assert!(outcome.traffic.bytes_sent >= 4000);
}

#[tokio::test]
async fn layout_refuses_a_corrupted_blob() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = write_image(&dir.path().join("store"), &[300], 51, &["dev-1"]);
    let layer = &image.layers[0].digest;
    let path = image
        .layout
        .join("blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    std::fs::write(&path, b"tampered").expect("tamper");
    let repo = r(&format!("oci:{}", image.layout.display()));
    let registry = Registry::for_ref(&repo, &options()).expect("backend");
    let err = registry.get_blob(&repo, layer).await.expect_err("corrupt");
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(layer.as_str()), "{err}");
    // The manifest itself is intact and still resolves.
    let manifest = registry
        .get_manifest(&repo.with_tag("dev-1").expect("tag"))
        .await
        .expect("manifest");
    assert_eq!(manifest.digest, image.digest);
}

#[tokio::test]
async fn referrers_fall_back_to_the_tag_schema() {
    for store in [Store::http(), Store::layout()] {
        let repo = store.repo("app");
        let digest = push_synthetic(&store, &repo, &[100], 61, "dev-1").await;
        let registry = store.registry(&repo);
        assert!(
            registry
                .referrers(&repo, &digest)
                .await
                .expect("none yet")
                .is_empty()
        );
        // A signature-like referrer index stored under `sha256-<hex>` (the OCI tag schema).
        let signature = gitops_core::registry::Manifest::from_bytes(
            serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": gitops_core::registry::OCI_INDEX,
                "manifests": [{
                    "mediaType": gitops_core::registry::OCI_MANIFEST,
                    "digest": digest,
                    "size": 1,
                    "artifactType": "application/vnd.dev.cosign.simplesigning.v1+json"
                }]
            }))
            .expect("json"),
            gitops_core::registry::OCI_INDEX,
        );
        registry
            .put_manifest(&repo, &digest.replacen(':', "-", 1), &signature)
            .await
            .expect("put referrers index");
        let found = registry.referrers(&repo, &digest).await.expect("referrers");
        assert_eq!(found.len(), 1);
    }
}
