//! Golden cases for the format-preserving kustomization editor: every argument form and edge
//! case of kustomize's `edit set image` / `edit set replicas`, with comment, indentation and
//! quoting preservation. Each snapshot shows the arguments, the input and the output.

use gitops_core::kustomize::{
    EditOptions, ImageEdit, KustomizeError, parse_image_args, parse_replica_args, read_images,
    set_images, set_replicas_with,
};

const DIGEST: &str = "sha256:24a0c4b4a4c0eb97a1aabb8e29f18e917d05abfe1b7a7c07857230879ce7d3d3";

/// A hand-written overlay: header comment, `---`, indented sequences, inline and trailing
/// comments, quoted values, a `tagSuffix`.
const OVERLAY: &str = r#"# Production overlay: edited by the pipeline, reviewed by people.
---
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: prod   # keep in sync with argocd
resources:
  - ../../base
  - ingress.yaml
images:
  # the API
  - name: ghcr.io/acme/backend   # built by ci.yaml
    newName: registry.acme.dev/backend
    newTag: "prod-abc1234-20251203-160000"
    # pinned during the incident on 3 Dec
  - name: ghcr.io/acme/frontend
    newTag: 'v1.4.0'
    tagSuffix: -slim
replicas:
  - name: backend
    count: 3 # scaled for launch
"#;

/// The same data as kustomize itself writes it: flush sequences, alphabetical keys.
const KUSTOMIZE_STYLE: &str = r#"apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../../base
images:
- digest: sha256:0000000000000000000000000000000000000000000000000000000000000000
  name: ghcr.io/acme/backend
  newName: registry.acme.dev/backend
- name: ghcr.io/acme/frontend
  newTag: v1.4.0
replicas:
- count: 2
  name: backend
"#;

const NO_IMAGES: &str = r#"apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
namePrefix: prod-
"#;

fn image_case(input: &str, args: &[&str], compat: bool) -> String {
    let result = parse_image_args(args).and_then(|edits| {
        set_images(
            input,
            &edits,
            &EditOptions {
                kustomize_compat: compat,
            },
        )
    });
    let output = match &result {
        Ok(output) => {
            // Editing twice changes nothing.
            let again = parse_image_args(args)
                .and_then(|edits| {
                    set_images(
                        output,
                        &edits,
                        &EditOptions {
                            kustomize_compat: compat,
                        },
                    )
                })
                .expect("the edited file edits again");
            assert_eq!(&again, output, "second edit changed the file");
            output.clone()
        }
        Err(err) => format!("error: {err}\n"),
    };
    format!(
        "set image {}{}\n--- input\n{}--- output\n{}",
        args.join(" "),
        if compat { " --kustomize-compat" } else { "" },
        show_eof(input),
        show_eof(&output)
    )
}

/// Makes a missing final newline visible in a snapshot.
fn show_eof(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n[no newline at end of file]\n")
    }
}

fn replica_case(input: &str, args: &[&str], compat: bool) -> String {
    let result = parse_replica_args(args).and_then(|edits| {
        set_replicas_with(
            input,
            &edits,
            &EditOptions {
                kustomize_compat: compat,
            },
        )
    });
    let output = match result {
        Ok(output) => output,
        Err(err) => format!("error: {err}\n"),
    };
    format!(
        "set replicas {}{}\n--- input\n{input}--- output\n{output}",
        args.join(" "),
        if compat { " --kustomize-compat" } else { "" }
    )
}

macro_rules! golden {
    ($name:ident, $input:expr, [$($arg:expr),* $(,)?]) => {
        golden!($name, $input, [$($arg),*], false);
    };
    ($name:ident, $input:expr, [$($arg:expr),* $(,)?], $compat:expr) => {
        #[test]
        fn $name() {
            let args: Vec<String> = vec![$($arg.to_string()),*];
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            insta::assert_snapshot!(image_case($input, &args, $compat));
        }
    };
}

// Every form of kustomize's grammar.
golden!(
    form_name_newname_tag,
    OVERLAY,
    ["ghcr.io/acme/backend=registry.acme.dev/api:v2"]
);
golden!(
    form_name_newname_digest,
    OVERLAY,
    [format!(
        "ghcr.io/acme/backend=registry.acme.dev/api@{DIGEST}"
    )]
);
golden!(
    form_name_newname_tag_digest,
    OVERLAY,
    [format!(
        "ghcr.io/acme/backend=registry.acme.dev/api:v2@{DIGEST}"
    )]
);
golden!(
    form_name_newname,
    OVERLAY,
    ["ghcr.io/acme/backend=mirror.acme.dev/backend"]
);
golden!(
    form_name_tag,
    OVERLAY,
    ["ghcr.io/acme/backend:prod-def5678-20251204-090000"]
);
golden!(
    form_name_tag_digest,
    OVERLAY,
    [format!("ghcr.io/acme/backend:v2@{DIGEST}")]
);
golden!(
    form_name_digest,
    OVERLAY,
    [format!("ghcr.io/acme/frontend@{DIGEST}")]
);
golden!(
    form_new_entries_of_every_form,
    NO_IMAGES,
    [
        "postgres=eu.gcr.io/my-project/postgres:latest",
        format!("my-app=my-registry/my-app@{DIGEST}"),
        "node:8.15.0",
        "mysql=mariadb",
        format!("alpine@{DIGEST}"),
        format!("redis:7.2@{DIGEST}"),
    ]
);

// `*` keeps a field.
golden!(
    star_keeps_new_name,
    OVERLAY,
    ["ghcr.io/acme/backend=*:v2"],
    true
);
golden!(
    star_keeps_tag,
    OVERLAY,
    ["ghcr.io/acme/backend=mirror.acme.dev/backend:*"],
    true
);
golden!(
    star_keeps_tag_adds_digest,
    OVERLAY,
    [format!("ghcr.io/acme/frontend:*@{DIGEST}")]
);
golden!(
    star_without_entry_leaves_field_out,
    NO_IMAGES,
    ["backend=*:v2"]
);

// Registries with ports, and kustomize's no-slash quirk.
golden!(
    host_port_registry,
    NO_IMAGES,
    [
        "localhost:5000/team/app:v1",
        "registry.acme.dev:8443/backend=localhost:5000/backend:v2"
    ]
);
golden!(
    host_port_without_slash_is_name_and_tag,
    NO_IMAGES,
    ["localhost:5000"]
);

// Several arguments: later ones win for the same name.
golden!(
    later_arguments_win,
    OVERLAY,
    ["ghcr.io/acme/backend:v1", "ghcr.io/acme/backend:v3"]
);

// Argument errors.
golden!(invalid_argument, OVERLAY, ["bad"]);
golden!(no_argument, OVERLAY, []);
golden!(empty_tag, OVERLAY, ["backend:"]);
golden!(bad_digest, OVERLAY, ["backend@sha256:1234"]);

// Default semantics vs kustomize's.
golden!(
    default_keeps_new_name_and_tag_suffix,
    OVERLAY,
    ["ghcr.io/acme/backend:v2", "ghcr.io/acme/frontend:v1.5.0"]
);
golden!(
    compat_drops_new_name_and_tag_suffix,
    OVERLAY,
    ["ghcr.io/acme/backend:v2", "ghcr.io/acme/frontend:v1.5.0"],
    true
);
golden!(
    compat_sorts_images_by_name,
    OVERLAY,
    ["a-first/sidecar:v1", "ghcr.io/acme/worker:v1"],
    true
);
golden!(
    default_appends_new_images,
    OVERLAY,
    ["a-first/sidecar:v1", "ghcr.io/acme/worker:v1"]
);
golden!(
    tag_replaces_stale_digest,
    KUSTOMIZE_STYLE,
    ["ghcr.io/acme/backend:v9"]
);
golden!(
    digest_replaces_tag,
    KUSTOMIZE_STYLE,
    [format!("ghcr.io/acme/frontend@{DIGEST}")]
);

// Quoting: tags YAML 1.1 reads as numbers, booleans or null are double-quoted.
golden!(
    safe_tags_stay_plain,
    NO_IMAGES,
    [
        "a:v1.10",
        "b:1.2.3",
        "c:dev-abc1234-20251203-120000",
        "d:latest",
        "e:v2-rc.1"
    ]
);
golden!(
    quoted_value_keeps_its_quotes,
    OVERLAY,
    ["ghcr.io/acme/frontend:v1.5.0"]
);

// Style of a new block follows the file.
golden!(
    new_block_flush_style,
    "resources:\n- ../../base\n",
    ["backend:v1"]
);
golden!(
    new_block_indented_style,
    "resources:\n    - ../../base\n",
    ["backend:v1"]
);
golden!(
    new_block_after_spaced_sections,
    "resources:\n  - ../../base\n\nnamePrefix: prod-\n\n",
    ["backend:v1"]
);
golden!(new_block_in_empty_file, "", ["backend:v1"]);
golden!(
    new_block_in_comment_only_file,
    "# nothing yet\n---\n",
    ["backend:v1"]
);
golden!(
    new_block_no_final_newline,
    "resources:\n  - ../../base",
    ["backend:v1"]
);
golden!(
    new_block_before_document_end,
    "resources:\n  - ../../base\n...\n",
    ["backend:v1"]
);
golden!(
    kustomize_style_new_entry_uses_its_key_order,
    KUSTOMIZE_STYLE,
    [format!("ghcr.io/acme/worker:v1@{DIGEST}")]
);
golden!(
    null_images_key_gets_entries,
    "resources:\n  - a.yaml\nimages: # filled by CI\nreplicas: []\n",
    ["backend:v1"]
);

// Other shapes.
golden!(
    flow_style_images,
    "resources: [a.yaml]\nimages: [{name: backend, newTag: v1}, {name: frontend, newTag: v1}]\n",
    ["backend:v2"]
);
golden!(
    flow_style_multiline_images,
    "images: [\n    {name: backend, newTag: v1},\n  ]\nresources:\n  - a.yaml\n",
    ["frontend:v1"]
);
golden!(
    empty_flow_images,
    "images: []\nresources:\n  - a.yaml\n",
    ["backend:v1"]
);
golden!(
    flow_entry_inside_block,
    "images:\n  - {name: backend, newTag: v1}\n  - name: frontend # keep\n    newTag: v1\n",
    ["backend:v2"]
);
golden!(
    bare_dash_entries,
    "images:\n  -\n    name: backend\n    newTag: v1 # old\n",
    ["backend:v2"]
);
golden!(
    folded_value_entry,
    "images:\n  - name: backend\n    newTag: >-\n      v1\n  - name: frontend # keep\n    newTag: v1\n",
    ["backend:v2"]
);
golden!(
    duplicate_entries_all_updated,
    "images:\n- name: backend\n  newTag: v1\n- name: backend\n  newTag: v0\n",
    ["backend:v2"]
);
golden!(
    duplicate_entries_collapse_in_compat,
    "images:\n- name: backend\n  newTag: v1\n- name: backend\n  newTag: v0\n",
    ["backend:v2"],
    true
);
golden!(
    dash_with_extra_spaces,
    "images:\n-   name: backend\n    newTag: v1\n",
    ["backend=ghcr.io/acme/backend:v2"]
);
golden!(
    new_entry_copies_item_layout,
    "images:\n-   name: backend\n    newTag: v1\n",
    ["frontend:v1"]
);
golden!(
    indented_document,
    "  resources:\n    - a.yaml\n  images:\n    - name: backend\n      newTag: v1\n",
    ["backend:v2", "frontend:v1"]
);
golden!(
    numeric_tag_in_file_is_rewritten_quoted,
    "images:\n  - name: backend\n    newTag: 1.10\n",
    ["backend:1.11"]
);
golden!(
    unchanged_when_already_set,
    OVERLAY,
    ["ghcr.io/acme/frontend:v1.4.0"]
);

// Errors with line:column.
golden!(
    malformed_yaml,
    "resources:\n  - a.yaml\nimages:\n  - name: backend\n   newTag: v1\n",
    ["backend:v2"]
);
golden!(
    images_not_a_list,
    "images:\n  name: backend\n",
    ["backend:v2"]
);
golden!(
    image_entry_not_a_mapping,
    "images:\n  - backend:v1\n",
    ["backend:v2"]
);
golden!(top_level_list, "- a\n- b\n", ["backend:v2"]);
golden!(
    flow_document,
    "{resources: [a.yaml], images: [{name: a}]}\n",
    ["backend:v2"]
);
golden!(
    several_documents,
    "resources: [a.yaml]\n---\nimages: []\n",
    ["backend:v2"]
);

macro_rules! golden_replicas {
    ($name:ident, $input:expr, [$($arg:expr),* $(,)?], $compat:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(replica_case($input, &[$($arg),*], $compat));
        }
    };
}

golden_replicas!(replicas_update_keeps_comment, OVERLAY, ["backend=5"], false);
golden_replicas!(
    replicas_add_and_update,
    OVERLAY,
    ["worker=2", "backend=1"],
    false
);
golden_replicas!(replicas_new_block, NO_IMAGES, ["backend=2"], false);
golden_replicas!(
    replicas_kustomize_style,
    KUSTOMIZE_STYLE,
    ["backend=4", "api=1"],
    false
);
golden_replicas!(
    replicas_compat_sorts,
    KUSTOMIZE_STYLE,
    ["backend=4", "api=1"],
    true
);
golden_replicas!(
    replicas_quoted_count_becomes_number,
    "replicas:\n  - name: backend\n    count: \"2\"\n",
    ["backend=3"],
    false
);
golden_replicas!(replicas_invalid_count, OVERLAY, ["backend=three"], false);
golden_replicas!(replicas_no_argument, OVERLAY, [], false);

/// Every tag the reference lists as read by YAML 1.1 as a number, boolean or null.
const YAML11_TAGS: &[&str] = &[
    "1234", "20251203", "1.10", "1e3", "0x1F", "1_000", "012", "08", "+1", ".5", "1.", "0b101",
    "0o17", "yes", "no", "on", "off", "y", "n", "Y", "NO", "true", "false", "null", "~", ".inf",
];

#[test]
fn yaml11_tags_are_double_quoted() {
    // Built directly (not through the argument grammar, which rejects tags such as `.5`
    // or `~` that no registry accepts), so the writer's quoting is tested for the whole list.
    let edits: Vec<ImageEdit> = YAML11_TAGS
        .iter()
        .enumerate()
        .map(|(i, tag)| ImageEdit::tag(format!("image-{i:02}"), *tag, None))
        .collect();
    let output = set_images(NO_IMAGES, &edits, &EditOptions::default()).expect("edits");
    for tag in YAML11_TAGS {
        assert!(
            output.contains(&format!("newTag: \"{tag}\"\n")),
            "{tag} is not double-quoted in:\n{output}"
        );
    }
    let read = read_images(&output).expect("reads back");
    let tags: Vec<&str> = read.iter().filter_map(|e| e.new_tag.as_deref()).collect();
    assert_eq!(tags, YAML11_TAGS);
    insta::assert_snapshot!(output);
}

#[test]
fn crlf_files_keep_crlf() {
    let input = "# header\r\nresources:\r\n  - a.yaml\r\nimages:\r\n  - name: backend # api\r\n    newTag: v1\r\n";
    let edits = parse_image_args(&["backend:v2", "frontend:v1"]).expect("valid arguments");
    let output = set_images(input, &edits, &EditOptions::default()).expect("edits");
    assert_eq!(
        output,
        "# header\r\nresources:\r\n  - a.yaml\r\nimages:\r\n  - name: backend # api\r\n    newTag: v2\r\n  - name: frontend\r\n    newTag: v1\r\n"
    );
    let appended = set_images(
        "resources:\r\n- a.yaml\r\n",
        &edits,
        &EditOptions::default(),
    )
    .expect("edits");
    assert_eq!(
        appended,
        "resources:\r\n- a.yaml\r\nimages:\r\n- name: backend\r\n  newTag: v2\r\n- name: frontend\r\n  newTag: v1\r\n"
    );
}

#[test]
fn missing_final_newline_stays_missing() {
    let edits = parse_image_args(&["backend:v2"]).expect("valid arguments");
    let output = set_images(
        "images:\n  - name: backend\n    newTag: v1",
        &edits,
        &EditOptions::default(),
    )
    .expect("edits");
    assert_eq!(output, "images:\n  - name: backend\n    newTag: v2");
    let appended =
        set_images("resources:\n  - a.yaml", &edits, &EditOptions::default()).expect("edits");
    assert_eq!(
        appended,
        "resources:\n  - a.yaml\nimages:\n  - name: backend\n    newTag: v2"
    );
}

#[test]
fn byte_order_mark_is_kept() {
    let input = "\u{feff}images:\n  - name: backend\n    newTag: v1\n";
    let edits = parse_image_args(&["backend:v2"]).expect("valid arguments");
    let output = set_images(input, &edits, &EditOptions::default()).expect("edits");
    assert_eq!(
        output,
        "\u{feff}images:\n  - name: backend\n    newTag: v2\n"
    );
}

#[test]
fn only_the_changed_line_differs() {
    let edits = parse_image_args(&["ghcr.io/acme/backend:v7"]).expect("valid arguments");
    let output = set_images(OVERLAY, &edits, &EditOptions::default()).expect("edits");
    let before: Vec<&str> = OVERLAY.lines().collect();
    let after: Vec<&str> = output.lines().collect();
    assert_eq!(before.len(), after.len());
    let changed: Vec<(usize, &str)> = before
        .iter()
        .zip(&after)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (_, b))| (i + 1, *b))
        .collect();
    assert_eq!(changed, vec![(13, "    newTag: \"v7\"")]);
}

#[test]
fn malformed_error_points_at_line_and_column() {
    let edits = parse_image_args(&["backend:v2"]).expect("valid arguments");
    let err = set_images(
        "images:\n  - name: backend\n   newTag: v1\n",
        &edits,
        &EditOptions::default(),
    )
    .expect_err("malformed");
    assert!(matches!(err, KustomizeError::Malformed { .. }));
    assert_eq!(err.location(), Some((3, 4)));
}

#[test]
fn read_images_reports_numeric_tags_with_location() {
    let err = read_images("images:\n  - name: backend\n    newTag: 1.10\n").expect_err("number");
    assert_eq!(err.location(), Some((3, 13)));
    assert!(err.to_string().contains("quote the value"), "{err}");
    let entries = read_images(OVERLAY).expect("reads");
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[0].new_name.as_deref(),
        Some("registry.acme.dev/backend")
    );
    assert_eq!(entries[1].tag_suffix.as_deref(), Some("-slim"));
}

#[test]
fn verification_refuses_a_result_that_would_not_hold() {
    // A line that looks like a top-level `images:` key but sits inside a multi-line quoted
    // scalar: the line editor is fooled, the semantic check is not, and nothing is returned.
    let input = "namePrefix: \"abc\nimages: x\"\nresources:\n  - a.yaml\n";
    let edits = parse_image_args(&["backend:v2"]).expect("valid arguments");
    let err = set_images(input, &edits, &EditOptions::default()).expect_err("refused");
    assert!(matches!(err, KustomizeError::Verification { .. }), "{err}");
    assert!(err.to_string().contains("nothing was written"), "{err}");
}
