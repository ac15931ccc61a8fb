//! `gitops retention plan|apply` through the built binary, against a real `docker-registry`
//! on loopback and a GitOps checkout whose production overlay pins an old image.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use chrono::Utc;
use gitops_core::image_ref::ImageRef;
use gitops_core::registry::{ConnectOptions, Manifest, OCI_MANIFEST, Registry};

use crate::support::registry::{TestRegistry, free_port};

fn gitops(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitops"))
        .args(args)
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITOPS_REGISTRY_USERNAME")
        .env_remove("GITOPS_REGISTRY_PASSWORD")
        .env("DOCKER_CONFIG", dir.join("no-docker-config"))
        .output()
        .expect("run gitops")
}

fn ago(days: i64) -> String {
    (Utc::now() - chrono::TimeDelta::days(days))
        .format("%Y%m%d-%H%M%S")
        .to_string()
}

async fn push(reg: &Registry, repo: &ImageRef, label: &str, tags: &[&str]) -> String {
    let config = format!("{{\"os\":\"linux\",\"label\":\"{label}\"}}");
    let config_digest = gitops_core::registry::sha256_digest(config.as_bytes());
    reg.put_blob(repo, &config_digest, config.clone().into_bytes())
        .await
        .unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [],
    });
    let manifest = Manifest::from_bytes(serde_json::to_vec(&manifest).unwrap(), OCI_MANIFEST);
    for tag in tags {
        reg.put_manifest(repo, tag, &manifest).await.unwrap();
    }
    manifest.digest
}

fn write_setup(dir: &Path, host: &str, production_tag: &str) {
    let policy = gitops_core::policy::DEFAULT_POLICY_YAML
        .replace(
            "registry: registry.digitalocean.com/ai-incident-assistant",
            &format!("registry: {host}"),
        )
        .replace("keep_latest: true }", "keep_latest: true, keep_min: 0 }");
    std::fs::write(dir.join("gitops.yaml"), policy).unwrap();
    let overlay = dir.join("gitops/infra/k8s/overlays/production");
    std::fs::create_dir_all(&overlay).unwrap();
    std::fs::write(
        overlay.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../../base\nimages:\n- name: backend\n  newName: {host}/backend\n  newTag: {production_tag}\n"
        ),
    )
    .unwrap();
}

#[test]
fn plan_keeps_what_production_runs_and_apply_deletes_the_rest() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let host = registry.host();
    let repo = ImageRef::parse(&format!("{host}/backend")).unwrap();
    let reg = Registry::for_ref(&repo, &ConnectOptions::default()).unwrap();
    let deployed_tag = format!("prod-aaaaaaa-{}", ago(200));
    let expired_tag = format!("dev-bbbbbbb-{}", ago(9));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (deployed, expired, latest) = rt.block_on(async {
        (
            push(&reg, &repo, "deployed", &[&deployed_tag]).await,
            push(&reg, &repo, "expired", &[&expired_tag]).await,
            push(&reg, &repo, "latest", &["prod-latest", "v1-hand-made"]).await,
        )
    });
    write_setup(dir.path(), &host, &deployed_tag);
    let image = format!("{host}/backend");

    let out = gitops(
        dir.path(),
        &[
            "retention",
            "plan",
            "--image",
            &image,
            "--gitops-repo",
            "gitops",
            "--format",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason = |tag: &str| {
        doc["plan"]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tag"] == tag)
            .map(|t| {
                (
                    t["action"].as_str().unwrap().to_owned(),
                    t["reason"].as_str().unwrap().to_owned(),
                )
            })
            .unwrap()
    };
    assert_eq!(
        reason(&deployed_tag),
        (
            "keep".to_owned(),
            "deployed in production overlay".to_owned()
        )
    );
    assert_eq!(
        reason(&expired_tag),
        ("delete".to_owned(), "expired: 9d > 7d".to_owned())
    );
    assert_eq!(
        reason("v1-hand-made"),
        ("keep".to_owned(), "unparseable tag name".to_owned())
    );
    assert_eq!(doc["deployed"][0]["digest"], deployed.as_str());
    assert_eq!(doc["report"]["applied"], false);

    // `apply` without `--apply` is a dry run too.
    let out = gitops(
        dir.path(),
        &[
            "retention",
            "apply",
            "--image",
            &image,
            "--gitops-repo",
            "gitops",
        ],
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Dry run: nothing was deleted"), "{text}");
    assert!(
        rt.block_on(reg.try_resolve(&repo.with_digest(&expired).unwrap()))
            .unwrap()
            .is_some()
    );

    let out = gitops(
        dir.path(),
        &[
            "retention",
            "apply",
            "--image",
            &image,
            "--gitops-repo",
            "gitops",
            "--apply",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Applied: 1 digest(s) deleted"), "{text}");
    rt.block_on(async {
        assert!(
            reg.try_resolve(&repo.with_digest(&expired).unwrap())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            reg.try_resolve(&repo.with_digest(&deployed).unwrap())
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            reg.try_resolve(&repo.with_digest(&latest).unwrap())
                .await
                .unwrap()
                .is_some()
        );
    });
}

#[test]
fn an_unreachable_registry_exits_3_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let host = format!("127.0.0.1:{}", free_port());
    write_setup(dir.path(), &host, "prod-latest");
    let out = gitops(
        dir.path(),
        &[
            "retention",
            "apply",
            "--image",
            &format!("{host}/backend"),
            "--apply",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing was deleted"), "{err}");
}

#[test]
fn a_tag_or_digest_in_image_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = gitops(
        dir.path(),
        &["retention", "plan", "--image", "127.0.0.1:1/app:dev-latest"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give the repository only"));
}

#[test]
fn digitalocean_repositories_use_the_api_and_need_a_token() {
    let dir = tempfile::tempdir().unwrap();
    write_setup(dir.path(), "registry.digitalocean.com/acme", "prod-latest");
    let image = "registry.digitalocean.com/acme/backend";
    let out = gitops(dir.path(), &["retention", "plan", "--image", image]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DIGITALOCEAN_TOKEN"));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(wiremock::MockServer::start());
    let old = format!("dev-aaaaaaa-{}", ago(30));
    rt.block_on(
        wiremock::Mock::given(wiremock::matchers::method("GET"))
            .and(wiremock::matchers::path(
                "/v2/registries/acme/repositories/backend/tags",
            ))
            .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "tags": [
                    {"registry_name": "acme", "repository": "backend", "tag": old, "manifest_digest": format!("sha256:{:064x}", 1), "size_bytes": 10, "updated_at": "2025-01-01T00:00:00Z"},
                    {"registry_name": "acme", "repository": "backend", "tag": "prod-latest", "manifest_digest": format!("sha256:{:064x}", 2), "size_bytes": 10, "updated_at": "2025-01-01T00:00:00Z"}
                ],
                "meta": {"total": 2}
            })))
            .mount(&server),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_gitops"))
        .args(["retention", "plan", "--image", image, "--format", "json"])
        .current_dir(dir.path())
        .env_remove("GITHUB_ACTIONS")
        .env("DIGITALOCEAN_TOKEN", "do-secret")
        .env("GITOPS_DIGITALOCEAN_API", server.uri())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["plan"]["deletions"][0]["tags"][0], old.as_str());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("do-secret"));
}
