//! `gitops push`, `gitops promote` and `gitops image` against a real `docker-registry` on
//! loopback and an OCI layout folder, through the built binary.

use std::process::{Command, Output};

use crate::support::registry as registry_support;
use registry_support::{TestRegistry, free_port, skopeo_raw_digest, write_image};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const TREE: &str = "89abcdef0123456789abcdef0123456789abcdef";

fn gitops(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitops"))
        .args(args)
        .current_dir(dir)
        .env("SOURCE_DATE_EPOCH", "1767225600")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITOPS_REGISTRY_USERNAME")
        .env_remove("GITOPS_REGISTRY_PASSWORD")
        .env("DOCKER_CONFIG", dir.join("no-docker-config"))
        .output()
        .expect("run gitops")
}

fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "gitops failed ({:?}): {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON document on stdout")
}

#[test]
fn push_then_promote_by_tree_then_rerun_is_a_noop() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let image = write_image(&dir.path().join("img"), &[3000, 5000], 11, &["built"]);
    let repo = format!("{}/app", registry.host());
    let layout = image.layout.display().to_string();
    let pushed = json(&gitops(
        dir.path(),
        &[
            "push",
            &layout,
            "--image",
            &repo,
            "--env",
            "development",
            "--revision",
            SHA,
            "--tree",
            TREE,
            "--format",
            "json",
        ],
    ));
    let digest = pushed["digest"].as_str().expect("digest").to_owned();
    assert_eq!(pushed["tags"][0], "dev-0123456-20260101-000000");
    assert_eq!(pushed["tags"][1], "dev-latest");
    assert_eq!(pushed["blobs_uploaded"], 3);

    let mark = registry.requests().len();
    let promoted = json(&gitops(
        dir.path(),
        &[
            "promote", "--to-env", "staging", "--image", &repo, "--tree", TREE, "--format", "json",
        ],
    ));
    assert_eq!(promoted["digest"], digest.as_str());
    assert_eq!(promoted["found_by_tree"], TREE);
    assert_eq!(
        promoted["tags_written"],
        serde_json::json!(["staging-0123456-20260101-000000", "staging-latest"])
    );
    assert!(promoted["requests"].as_u64().expect("requests") >= 4);
    assert!(promoted["bytes_transferred"].as_u64().expect("bytes") < 64 * 1024);
    let made = registry.requests_since(mark);
    assert!(!made.iter().any(|r| r.path.contains("/blobs/")), "{made:?}");
    assert_eq!(
        skopeo_raw_digest(&format!("docker://{repo}:staging-latest")),
        digest
    );

    let again = json(&gitops(
        dir.path(),
        &[
            "promote", "--to-env", "staging", "--image", &repo, "--tree", TREE, "--format", "json",
        ],
    ));
    assert_eq!(again["tags_written"], serde_json::json!([]));
    assert_eq!(again["tags_skipped"].as_array().expect("skipped").len(), 2);

    let other_tree = gitops(
        dir.path(),
        &[
            "promote",
            "--to-env",
            "staging",
            "--image",
            &repo,
            "--tree",
            &"f".repeat(40),
        ],
    );
    assert_eq!(
        other_tree.status.code(),
        Some(1),
        "nothing built from that tree: the pipeline must build"
    );
    assert!(String::from_utf8_lossy(&other_tree.stderr).contains("no image of 'development'"));

    let resolved = json(&gitops(
        dir.path(),
        &[
            "image",
            "resolve",
            &format!("{repo}:staging-latest"),
            "--format",
            "json",
        ],
    ));
    assert_eq!(resolved["digest"], digest.as_str());
    let listed = json(&gitops(
        dir.path(),
        &["image", "tags", &repo, "--format", "json"],
    ));
    assert_eq!(listed["count"], 4);
}

#[test]
fn dry_run_prints_requests_and_writes_nothing() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let image = write_image(&dir.path().join("img"), &[100], 12, &["built"]);
    let repo = format!("{}/app", registry.host());
    let layout = image.layout.display().to_string();
    json(&gitops(
        dir.path(),
        &[
            "push",
            &layout,
            "--image",
            &repo,
            "--tag",
            "dev-0123456-20251231-000000",
            "--no-annotations",
            "--format",
            "json",
        ],
    ));
    let source = format!("{repo}:dev-0123456-20251231-000000");
    let mark = registry.requests().len();
    let out = gitops(
        dir.path(),
        &["promote", &source, "--to-env", "staging", "--dry-run"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("PUT /v2/app/manifests/staging-0123456-20260101-000000"),
        "{text}"
    );
    assert!(
        text.contains("PUT /v2/app/manifests/staging-latest"),
        "{text}"
    );
    assert!(
        !registry
            .requests_since(mark)
            .iter()
            .any(|r| r.method == "PUT")
    );
}

#[test]
fn promotes_in_an_oci_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = write_image(
        &dir.path().join("store"),
        &[100, 200],
        13,
        &["dev-0123456-20251231-000000"],
    );
    let source = format!("oci:{}:dev-0123456-20251231-000000", image.layout.display());
    let out = json(&gitops(
        dir.path(),
        &[
            "promote", &source, "--to-env", "staging", "--format", "json",
        ],
    ));
    assert_eq!(out["digest"], image.digest.as_str());
    let tags = json(&gitops(
        dir.path(),
        &[
            "image",
            "tags",
            &format!("oci:{}", image.layout.display()),
            "--format",
            "json",
        ],
    ));
    assert_eq!(
        tags["tags"],
        serde_json::json!([
            "dev-0123456-20251231-000000",
            "staging-0123456-20260101-000000",
            "staging-latest"
        ])
    );
}

#[test]
fn connection_refused_exits_3_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = format!("127.0.0.1:{}", free_port());
    let out = gitops(
        dir.path(),
        &[
            "image",
            "resolve",
            &format!("{host}/app:dev-latest"),
            "--attempts",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot reach registry {host}")),
        "{err}"
    );
}

#[test]
fn a_missing_source_is_a_usage_error_and_contacts_no_registry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = format!("127.0.0.1:{}", free_port());
    let out = gitops(
        dir.path(),
        &[
            "push",
            "no-such-image.tar",
            "--image",
            &format!("{host}/app"),
            "--tag",
            "dev-latest",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-image.tar does not exist"), "{err}");
    assert!(!err.contains("cannot reach registry"), "{err}");
}

#[test]
fn wrong_credentials_exit_3_without_printing_the_secret() {
    let registry = TestRegistry::start_with_htpasswd("ci", "right-password");
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = "Wr0ng-Pa55word-42";
    let out = Command::new(env!("CARGO_BIN_EXE_gitops"))
        .args(["image", "tags", &format!("{}/app", registry.host())])
        .current_dir(dir.path())
        .env("GITOPS_REGISTRY_USERNAME", "ci")
        .env("GITOPS_REGISTRY_PASSWORD", secret)
        .env("DOCKER_CONFIG", dir.path())
        .output()
        .expect("run gitops");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refused access") && err.contains("as user ci"),
        "{err}"
    );
    assert!(!err.contains(secret) && !String::from_utf8_lossy(&out.stdout).contains(secret));
}

#[test]
fn credentials_come_from_docker_config_auths_and_cred_helpers() {
    let registry = TestRegistry::start_with_htpasswd("ci", "right-password");
    let host = registry.host();
    let repo = format!("{host}/app");
    let run = |config_dir: &std::path::Path, path: &str| {
        Command::new(env!("CARGO_BIN_EXE_gitops"))
            .args(["image", "tags", &repo, "--format", "json"])
            .current_dir(config_dir)
            .env_remove("GITOPS_REGISTRY_USERNAME")
            .env_remove("GITOPS_REGISTRY_PASSWORD")
            .env("DOCKER_CONFIG", config_dir)
            .env("PATH", path)
            .output()
            .expect("run gitops")
    };
    let system_path = std::env::var("PATH").unwrap_or_default();

    // auths.<host>.auth = base64("user:password")
    let auths = tempfile::tempdir().expect("tempdir");
    let encoded = registry_support::base64_encode(b"ci:right-password");
    std::fs::write(
        auths.path().join("config.json"),
        format!(r#"{{"auths":{{"{host}":{{"auth":"{encoded}"}}}}}}"#),
    )
    .expect("config");
    assert_eq!(json(&run(auths.path(), &system_path))["count"], 0);

    // credHelpers.<host> = "fake" runs docker-credential-fake get.
    let helper = tempfile::tempdir().expect("tempdir");
    let script = helper.path().join("docker-credential-fake");
    std::fs::write(
        &script,
        "#!/bin/sh\nread host\necho \"{\\\"ServerURL\\\":\\\"$host\\\",\\\"Username\\\":\\\"ci\\\",\\\"Secret\\\":\\\"right-password\\\"}\"\n",
    )
    .expect("helper");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    std::fs::write(
        helper.path().join("config.json"),
        format!(r#"{{"credHelpers":{{"{host}":"fake"}}}}"#),
    )
    .expect("config");
    let path = format!("{}:{system_path}", helper.path().display());
    assert_eq!(json(&run(helper.path(), &path))["count"], 0);

    // No credentials at all: 401, exit 3.
    let none = tempfile::tempdir().expect("tempdir");
    let out = run(none.path(), &system_path);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without credentials"));
}

#[test]
fn push_records_head_and_promote_auto_finds_it_by_tree() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let repo_dir = dir.path().join("src");
    std::fs::create_dir_all(&repo_dir).expect("mkdir");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(&repo_dir)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    git(&["init", "-q"]);
    std::fs::write(repo_dir.join("main.rs"), "fn main() {}\n").expect("write");
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "first"]);
    let head = git(&["rev-parse", "HEAD"]);
    let tree = git(&["rev-parse", "HEAD^{tree}"]);

    let image = write_image(&dir.path().join("img"), &[400], 14, &["built"]);
    let repo = format!("{}/app", registry.host());
    let layout = image.layout.display().to_string();
    let pushed = json(&gitops(
        &repo_dir,
        &[
            "push",
            &layout,
            "--image",
            &repo,
            "--env",
            "development",
            "--format",
            "json",
        ],
    ));
    assert_eq!(
        pushed["annotations"]["org.opencontainers.image.revision"],
        head.as_str()
    );
    assert_eq!(pushed["annotations"]["dev.gitops.tree"], tree.as_str());

    // A later commit with the same tree (e.g. a merge that changed nothing) promotes the image.
    git(&[
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "merge dev into staging",
    ]);
    let promoted = json(&gitops(
        &repo_dir,
        &[
            "promote", "--to-env", "staging", "--image", &repo, "--auto", "--format", "json",
        ],
    ));
    assert_eq!(promoted["digest"], pushed["digest"]);
    assert_eq!(promoted["found_by_tree"], tree.as_str());
    let sha7 = &head[..7];
    assert_eq!(
        promoted["tags_written"][0],
        format!("staging-{sha7}-20260101-000000").as_str(),
        "the new tag names the commit the image was built from"
    );
}
