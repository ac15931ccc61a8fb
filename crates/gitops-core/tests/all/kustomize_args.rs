//! kustomize's `edit set image` / `set replicas` argument grammar, file discovery and the
//! image-usage helpers.

use gitops_core::kustomize::{
    FieldEdit, ImageEdit, ImageEntry, KustomizeError, PatchSources, ReplicaEdit, container_images,
    find_kustomization, image_matches, parse_image_arg, parse_image_args, parse_replica_arg,
    parse_replica_args, patch_sources, resource_paths, split_image, transform_reference,
};

const DIGEST: &str = "sha256:24a0c4b4a4c0eb97a1aabb8e29f18e917d05abfe1b7a7c07857230879ce7d3d3";

fn set(value: &str) -> FieldEdit {
    FieldEdit::Set(value.to_owned())
}

fn edit(name: &str, new_name: FieldEdit, new_tag: FieldEdit, digest: FieldEdit) -> ImageEdit {
    ImageEdit {
        name: name.to_owned(),
        new_name,
        new_tag,
        digest,
    }
}

use FieldEdit::{Keep, Unspecified};

#[test]
fn every_form_of_the_grammar() {
    let cases = [
        (
            "postgres=eu.gcr.io/my-project/postgres:latest",
            edit(
                "postgres",
                set("eu.gcr.io/my-project/postgres"),
                set("latest"),
                Unspecified,
            ),
        ),
        (
            &format!("my-app=my-registry/my-app@{DIGEST}"),
            edit(
                "my-app",
                set("my-registry/my-app"),
                Unspecified,
                set(DIGEST),
            ),
        ),
        (
            &format!("my-app=my-registry/my-app:v1@{DIGEST}"),
            edit("my-app", set("my-registry/my-app"), set("v1"), set(DIGEST)),
        ),
        (
            "mysql=mariadb",
            edit("mysql", set("mariadb"), Unspecified, Unspecified),
        ),
        (
            "node:8.15.0",
            edit("node", Unspecified, set("8.15.0"), Unspecified),
        ),
        (
            &format!("node:8.15.0@{DIGEST}"),
            edit("node", Unspecified, set("8.15.0"), set(DIGEST)),
        ),
        (
            &format!("alpine@{DIGEST}"),
            edit("alpine", Unspecified, Unspecified, set(DIGEST)),
        ),
        // `*` keeps a field.
        (
            "backend=*:v2",
            edit("backend", Keep, set("v2"), Unspecified),
        ),
        (
            "backend=ghcr.io/acme/backend:*",
            edit("backend", set("ghcr.io/acme/backend"), Keep, Unspecified),
        ),
        ("backend:*@*", edit("backend", Unspecified, Keep, Keep)),
        (
            &format!("backend=*@{DIGEST}"),
            edit("backend", Keep, Unspecified, set(DIGEST)),
        ),
        ("backend=*", edit("backend", Keep, Unspecified, Unspecified)),
        // Registries with ports: everything before the first `/` is ignored for `:` and `@`.
        (
            "localhost:5000/app:v1",
            edit("localhost:5000/app", Unspecified, set("v1"), Unspecified),
        ),
        (
            &format!("localhost:5000/team/app@{DIGEST}"),
            edit(
                "localhost:5000/team/app",
                Unspecified,
                Unspecified,
                set(DIGEST),
            ),
        ),
        (
            "registry.acme.dev:8443/api=localhost:5000/api:v3",
            edit(
                "registry.acme.dev:8443/api",
                set("localhost:5000/api"),
                set("v3"),
                Unspecified,
            ),
        ),
        (
            "backend=localhost:5000/backend",
            edit(
                "backend",
                set("localhost:5000/backend"),
                Unspecified,
                Unspecified,
            ),
        ),
        // kustomize's quirk: without a `/`, `localhost:5000` is name `localhost`, tag `5000`.
        (
            "localhost:5000",
            edit("localhost", Unspecified, set("5000"), Unspecified),
        ),
        (
            "backend=localhost:5000",
            edit("backend", set("localhost"), set("5000"), Unspecified),
        ),
        // Only the first `=` separates the name.
        ("a=b=c:v1", edit("a", set("b=c"), set("v1"), Unspecified)),
    ];
    for (arg, expected) in cases {
        assert_eq!(parse_image_arg(arg).ok(), Some(expected.clone()), "{arg}");
        assert_eq!(expected.to_string(), arg, "prints back");
    }
}

#[test]
fn invalid_arguments_say_what_and_how() {
    for (arg, reason) in [
        ("bad", "neither"),
        ("", "neither"),
        ("backend:", "nothing follows `:`"),
        ("backend@", "nothing follows `@`"),
        ("backend=", "nothing follows `=`"),
        ("=img:v1", "image name is empty"),
        ("*:v1", "`*` keeps"),
        ("backend:v 1", "contains ' '"),
        ("backend:-v1", "must start"),
        ("backend:v1/x", "neither"),
        ("backend@sha256:abc", "64 lowercase hex"),
        ("backend@md5", "algorithm"),
        ("back end:v1", "contains ' '"),
    ] {
        let err = parse_image_arg(arg).expect_err(arg);
        let text = err.to_string();
        assert!(
            matches!(err, KustomizeError::InvalidImageArg { .. }),
            "{arg}"
        );
        assert!(text.contains(reason), "{arg}: {text}");
        assert!(
            text.contains("<image>=<newimage>:<newtag>"),
            "{arg}: lists the forms"
        );
    }
    assert!(matches!(
        parse_image_args::<&str>(&[]),
        Err(KustomizeError::NoImageSpecified)
    ));
    assert_eq!(
        parse_image_args::<&str>(&[]).expect_err("none").to_string(),
        "no image specified: give at least one argument such as `backend:v2` or `backend=ghcr.io/acme/backend:v2`"
    );
}

#[test]
fn later_arguments_win_for_the_same_name() {
    let edits =
        parse_image_args(&["backend:v1", "frontend:v1", "backend=mirror/backend"]).expect("valid");
    assert_eq!(
        edits,
        vec![
            edit("backend", set("mirror/backend"), Unspecified, Unspecified),
            edit("frontend", Unspecified, set("v1"), Unspecified),
        ]
    );
}

#[test]
fn replica_arguments() {
    assert_eq!(
        parse_replica_arg("backend=3").ok(),
        Some(ReplicaEdit {
            name: "backend".into(),
            count: 3
        })
    );
    assert_eq!(
        parse_replica_args(&["a=1", "b=2", "a=0"]).expect("valid"),
        vec![
            ReplicaEdit {
                name: "a".into(),
                count: 0
            },
            ReplicaEdit {
                name: "b".into(),
                count: 2
            }
        ]
    );
    for (arg, reason) in [
        ("backend", "no `=<count>`"),
        ("backend=", "not a whole number"),
        ("backend=1.5", "not a whole number"),
        ("backend=-1", "negative"),
        ("=3", "name is empty"),
        ("a=1=2", "more than one"),
    ] {
        let text = parse_replica_arg(arg).expect_err(arg).to_string();
        assert!(text.contains(reason), "{arg}: {text}");
    }
    assert!(matches!(
        parse_replica_args::<&str>(&[]),
        Err(KustomizeError::NoReplicaSpecified)
    ));
}

#[test]
fn split_image_follows_kustomize() {
    assert_eq!(split_image("nginx"), ("nginx", None, None));
    assert_eq!(split_image("nginx:1.25"), ("nginx", Some("1.25"), None));
    assert_eq!(
        split_image(&format!("nginx@{DIGEST}")),
        ("nginx", None, Some(DIGEST))
    );
    assert_eq!(
        split_image(&format!("nginx:1.25@{DIGEST}")),
        ("nginx", Some("1.25"), Some(DIGEST))
    );
    assert_eq!(
        split_image("localhost:5000/a/b:c"),
        ("localhost:5000/a/b", Some("c"), None)
    );
    assert_eq!(
        split_image("localhost:5000"),
        ("localhost", Some("5000"), None)
    );
    assert_eq!(split_image("/abs:x"), ("/abs", Some("x"), None));
}

#[test]
fn finds_the_one_kustomization_file() {
    assert_eq!(
        find_kustomization("o", ["README.md", "kustomization.yaml"]).ok(),
        Some("kustomization.yaml")
    );
    assert_eq!(
        find_kustomization("o", ["kustomization.yml"]).ok(),
        Some("kustomization.yml")
    );
    assert_eq!(
        find_kustomization("o", ["Kustomization"]).ok(),
        Some("Kustomization")
    );
    let err = find_kustomization("overlays/dev", ["deploy.yaml"]).expect_err("none");
    assert!(matches!(err, KustomizeError::NotFound { .. }));
    assert!(err.to_string().contains("overlays/dev"), "{err}");
    let err = find_kustomization("o", ["kustomization.yaml", "Kustomization"]).expect_err("two");
    assert_eq!(
        err.to_string(),
        "found several kustomization files in o (kustomization.yaml, Kustomization); keep exactly one"
    );
}

#[test]
fn usage_helpers_find_images_and_resources() {
    let manifest = "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      initContainers:\n      - image: busybox:1.36\n      containers:\n      - name: a\n        image: ghcr.io/acme/api:v1\n---\napiVersion: batch/v1\nkind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - image: localhost:5000/worker\n";
    assert_eq!(
        container_images(manifest).expect("parses"),
        vec![
            "busybox:1.36",
            "ghcr.io/acme/api:v1",
            "localhost:5000/worker"
        ]
    );
    assert!(container_images("a: [").is_err());
    let kustomization = "resources:\n- deployment.yaml\n- ../../base\n- https://github.com/acme/x//deploy?ref=v1\n- github.com/acme/y\ncomponents:\n- ../../components/monitoring\n";
    assert_eq!(
        resource_paths(kustomization).expect("parses"),
        vec![
            "deployment.yaml",
            "../../base",
            "../../components/monitoring"
        ]
    );
    assert!(image_matches("ghcr.io/acme/api", "ghcr.io/acme/api:v1"));
    assert!(image_matches(
        "ghcr.io/acme/api",
        &format!("ghcr.io/acme/api@{DIGEST}")
    ));
    assert!(!image_matches("api", "ghcr.io/acme/api:v1"));
    assert!(!image_matches("ghcr.io/acme/ap", "ghcr.io/acme/api:v1"));
    let entries = vec![
        ImageEntry {
            name: "api".into(),
            new_name: Some("ghcr.io/acme/api".into()),
            new_tag: None,
            digest: None,
            tag_suffix: None,
        },
        ImageEntry {
            name: "ghcr.io/acme/api".into(),
            new_name: None,
            new_tag: Some("v2".into()),
            digest: None,
            tag_suffix: None,
        },
        ImageEntry {
            name: "worker".into(),
            new_name: None,
            new_tag: None,
            digest: None,
            tag_suffix: Some("-slim".into()),
        },
    ];
    // Entries apply in order, like kustomize's transformer: a renamed image can be retagged.
    assert_eq!(
        transform_reference(&entries, "api:v1"),
        "ghcr.io/acme/api:v2"
    );
    assert_eq!(
        transform_reference(&entries, "worker:1.0"),
        "worker:1.0-slim"
    );
    assert_eq!(transform_reference(&entries, "other:1"), "other:1");
}

#[test]
fn patch_sources_lists_files_and_inline_patches() {
    let kustomization = "patches:\n- path: sidecar.yaml\n- target: {kind: Deployment}\n  patch: |-\n    - op: add\n      path: /spec/template/spec/containers/-\n      value: {name: s, image: envoy:1.30}\npatchesStrategicMerge:\n- memory.yaml\n- |-\n  apiVersion: apps/v1\n  kind: Deployment\n";
    let sources = patch_sources(kustomization).expect("parses");
    assert_eq!(sources.files, vec!["sidecar.yaml", "memory.yaml"]);
    assert_eq!(sources.inline.len(), 2);
    assert_eq!(
        container_images(&sources.inline[0]).expect("inline patch parses"),
        vec!["envoy:1.30"]
    );
    assert_eq!(
        patch_sources("resources: []\n").expect("parses"),
        PatchSources::default()
    );
}
