//! Property tests for the kustomization editor: it never panics, the result holds what was
//! asked, a second edit changes nothing, and lines outside the edited block are untouched.

use gitops_core::kustomize::{
    EditOptions, FieldEdit, ImageEdit, ReplicaEdit, parse_image_arg, parse_replica_arg,
    read_images, read_replicas, set_images, set_replicas, set_replicas_with,
};
use proptest::prelude::*;

const DIGESTS: [&str; 2] = [
    "sha256:24a0c4b4a4c0eb97a1aabb8e29f18e917d05abfe1b7a7c07857230879ce7d3d3",
    "sha256:0000000000000000000000000000000000000000000000000000000000000000",
];
const NAMES: [&str; 4] = [
    "backend",
    "ghcr.io/acme/frontend",
    "localhost:5000/worker",
    "db",
];
const TAGS: [&str; 8] = [
    "v1",
    "1.10",
    "yes",
    "08",
    "v2.0.1",
    "latest",
    "1e3",
    "prod-abc1234-20251203-160000",
];

/// Fragments that make YAML-looking text, including the awkward parts.
const FRAGMENTS: [&str; 24] = [
    "images:",
    "replicas:",
    "resources:",
    "  - name: backend",
    "- name: backend",
    "    newTag: v1",
    "  newTag: \"v1\"",
    "    newName: 'x/y'",
    "  count: 2",
    "# comment",
    "  # indented comment",
    "---",
    "...",
    "images: [{name: a, newTag: b}]",
    "images: []",
    "  -",
    "    digest: sha256:ab",
    "\t- x",
    "key: {a: [",
    "\"quoted key\": 1",
    "  - name: backend # inline",
    "&anchor",
    "*alias",
    "",
];

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(prop::sample::select(FRAGMENTS.to_vec()), 0..14)
            .prop_flat_map(|lines| prop::bool::ANY
                .prop_map(move |crlf| { lines.join(if crlf { "\r\n" } else { "\n" }) })),
    ]
}

fn arb_field() -> impl Strategy<Value = FieldEdit> {
    prop_oneof![
        Just(FieldEdit::Keep),
        Just(FieldEdit::Unspecified),
        any::<String>().prop_map(FieldEdit::Set),
        prop::sample::select(TAGS.to_vec()).prop_map(|t| FieldEdit::Set(t.to_owned())),
    ]
}

fn arb_any_edit() -> impl Strategy<Value = ImageEdit> {
    (
        prop_oneof![
            any::<String>(),
            prop::sample::select(NAMES.to_vec()).prop_map(str::to_owned)
        ],
        arb_field(),
        arb_field(),
        arb_field(),
    )
        .prop_map(|(name, new_name, new_tag, digest)| ImageEdit {
            name,
            new_name,
            new_tag,
            digest,
        })
}

/// A valid kustomization in a random style, split into the part before `images:`, the
/// `images:` block and the part after it, so tests can check what must stay untouched.
#[derive(Debug, Clone)]
struct Generated {
    before: String,
    block: String,
    after: String,
    /// Untouched-entry text chunks, by image name.
    entries: Vec<(String, String)>,
}

impl Generated {
    fn text(&self) -> String {
        format!("{}{}{}", self.before, self.block, self.after)
    }
}

#[derive(Debug, Clone)]
struct EntrySpec {
    name: usize,
    new_name: Option<usize>,
    tag: Option<usize>,
    digest: Option<usize>,
    quote: usize,
    comment: bool,
}

fn arb_entry() -> impl Strategy<Value = EntrySpec> {
    (
        0..NAMES.len(),
        prop::option::of(0..2usize),
        prop::option::of(0..TAGS.len()),
        prop::option::of(0..DIGESTS.len()),
        0..3usize,
        any::<bool>(),
    )
        .prop_map(|(name, new_name, tag, digest, quote, comment)| EntrySpec {
            name,
            new_name,
            tag,
            digest,
            quote,
            comment,
        })
}

fn quote(value: &str, style: usize) -> String {
    match style {
        0 if TAGS[..].contains(&value) && ["1.10", "yes", "08", "1e3"].contains(&value) => {
            format!("\"{value}\"")
        }
        0 => value.to_owned(),
        1 => format!("\"{value}\""),
        _ => format!("'{value}'"),
    }
}

prop_compose! {
    fn arb_kustomization()(
        indented in any::<bool>(),
        crlf in any::<bool>(),
        header in any::<bool>(),
        has_images in any::<bool>(),
        trailing_key in any::<bool>(),
        specs in prop::collection::vec(arb_entry(), 0..4),
    ) -> Generated {
        let nl = if crlf { "\r\n" } else { "\n" };
        let dash = if indented { "  - " } else { "- " };
        let pad = if indented { "    " } else { "  " };
        let mut before = String::new();
        if header {
            before.push_str(&format!("# overlay: edited by CI{nl}---{nl}"));
        }
        before.push_str(&format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1{nl}kind: Kustomization # kind{nl}resources:{nl}{dash}../../base   # base{nl}{dash}'extra.yaml'{nl}"
        ));
        let mut block = String::new();
        let mut entries = Vec::new();
        let mut seen = Vec::new();
        if has_images {
            block.push_str(&format!("images: # managed{nl}"));
            for spec in specs.iter().filter(|s| {
                let fresh = !seen.contains(&s.name);
                seen.push(s.name);
                fresh
            }) {
                let name = NAMES[spec.name];
                let mut chunk = String::new();
                if spec.comment {
                    chunk.push_str(&format!("{}# about {name}{nl}", &dash[..dash.len() - 2]));
                }
                chunk.push_str(&format!("{dash}name: {}{}{nl}", quote(name, spec.quote), if spec.comment { "  # inline" } else { "" }));
                if let Some(n) = spec.new_name {
                    chunk.push_str(&format!("{pad}newName: {}{nl}", quote(&format!("registry{n}.acme.dev/{}", name.rsplit('/').next().unwrap_or(name)), spec.quote)));
                }
                if let Some(t) = spec.tag {
                    chunk.push_str(&format!("{pad}newTag: {}{nl}", quote(TAGS[t], spec.quote)));
                }
                if let Some(d) = spec.digest {
                    chunk.push_str(&format!("{pad}digest: {}{nl}", DIGESTS[d]));
                }
                if spec.comment {
                    chunk.push_str(&format!("{pad}# trailing comment{nl}"));
                }
                block.push_str(&chunk);
                entries.push((name.to_owned(), chunk));
            }
        }
        let after = if trailing_key {
            format!("replicas:{nl}{dash}name: backend{nl}{pad}count: 2 # two{nl}namePrefix: \"prod-\"{nl}")
        } else {
            String::new()
        };
        Generated { before, block, after, entries }
    }
}

fn arb_edit() -> impl Strategy<Value = ImageEdit> {
    let value = |choices: Vec<String>| {
        prop_oneof![
            Just(FieldEdit::Keep),
            Just(FieldEdit::Unspecified),
            prop::sample::select(choices).prop_map(FieldEdit::Set),
        ]
    };
    (
        0..NAMES.len(),
        value(vec![
            "mirror.acme.dev/app".to_owned(),
            "localhost:5000/app".to_owned(),
        ]),
        value(TAGS.iter().map(|t| (*t).to_owned()).collect()),
        value(DIGESTS.iter().map(|d| (*d).to_owned()).collect()),
    )
        .prop_map(|(name, new_name, new_tag, digest)| ImageEdit {
            name: NAMES[name].to_owned(),
            new_name,
            new_tag,
            digest,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn argument_parsers_never_panic(arg in any::<String>()) {
        let _ = parse_image_arg(&arg);
        let _ = parse_replica_arg(&arg);
    }

    #[test]
    fn parsed_arguments_print_back(arg in "[a-z]{1,8}(=[a-z./]{1,8}|=\\*)?(:[a-z0-9.]{1,6}|:\\*)?(@sha256:[0-9a-f]{64}|@\\*)?") {
        if let Ok(edit) = parse_image_arg(&arg) {
            prop_assert_eq!(edit.to_string(), arg.clone());
            prop_assert_eq!(parse_image_arg(&edit.to_string()).ok(), Some(edit));
        }
    }

    #[test]
    fn any_value_is_written_so_that_it_reads_back(
        tag in prop_oneof![any::<String>(), "[\u{FFFE}\u{FFFF}\u{FEFF}\u{2028}\u{85}\t\r\na :#'\"\\\\.-]{0,6}"],
        new_name in any::<String>(),
        digest in "[ -~]{0,20}",
        crlf in any::<bool>(),
    ) {
        let text = if crlf { "images:\r\n  - name: backend\r\n    newTag: v1 # old\r\n" } else { "resources:\n- a.yaml\n" };
        let edit = ImageEdit {
            name: "backend".to_owned(),
            new_name: FieldEdit::Set(new_name.clone()),
            new_tag: FieldEdit::Set(tag.clone()),
            digest: FieldEdit::Set(digest.clone()),
        };
        let output = set_images(text, &[edit], &EditOptions::default()).expect("every string can be written");
        let read = read_images(&output).expect("reads back");
        prop_assert_eq!(read.len(), 1);
        prop_assert_eq!(read[0].new_tag.as_deref(), Some(tag.as_str()));
        prop_assert_eq!(read[0].new_name.as_deref(), Some(new_name.as_str()));
        prop_assert_eq!(read[0].digest.as_deref(), Some(digest.as_str()));
    }

    #[test]
    fn editor_never_panics(
        text in arb_text(),
        edits in prop::collection::vec(arb_any_edit(), 0..4),
        compat in any::<bool>(),
        replicas in prop::collection::vec((any::<String>(), any::<i64>()), 0..3),
    ) {
        let _ = set_images(&text, &edits, &EditOptions { kustomize_compat: compat });
        let replica_edits: Vec<ReplicaEdit> = replicas
            .into_iter()
            .map(|(name, count)| ReplicaEdit { name, count })
            .collect();
        let _ = set_replicas(&text, &replica_edits);
        let _ = read_images(&text);
        let _ = read_replicas(&text);
    }

    #[test]
    fn edits_hold_are_idempotent_and_touch_only_their_block(
        generated in arb_kustomization(),
        edits in prop::collection::vec(arb_edit(), 1..4),
        compat in any::<bool>(),
    ) {
        let text = generated.text();
        let opts = EditOptions { kustomize_compat: compat };
        let before = read_images(&text).expect("generated input reads");
        let output = set_images(&text, &edits, &opts).expect("valid input edits");

        // Later edits win for a name.
        let mut last: Vec<&ImageEdit> = Vec::new();
        for edit in &edits {
            last.retain(|e| e.name != edit.name);
            last.push(edit);
        }
        let after = read_images(&output).expect("output reads");
        for edit in &last {
            let entry = after.iter().find(|e| e.name == edit.name);
            prop_assert!(entry.is_some(), "no entry for {} in\n{}", edit.name, output);
            let entry = entry.expect("checked");
            let old = before.iter().find(|e| e.name == edit.name);
            let expect = |field: &FieldEdit, new: &Option<String>, old_value: Option<&Option<String>>| match field {
                FieldEdit::Set(v) => new.as_deref() == Some(v.as_str()),
                FieldEdit::Keep => new.as_ref() == old_value.and_then(|o| o.as_ref()),
                FieldEdit::Unspecified => true,
            };
            prop_assert!(expect(&edit.new_name, &entry.new_name, old.map(|o| &o.new_name)), "newName of {:?} in\n{}", edit, output);
            prop_assert!(expect(&edit.new_tag, &entry.new_tag, old.map(|o| &o.new_tag)), "newTag of {:?} in\n{}", edit, output);
            prop_assert!(expect(&edit.digest, &entry.digest, old.map(|o| &o.digest)), "digest of {:?} in\n{}", edit, output);
            if compat {
                // kustomize replaces the entry wholesale.
                if matches!(edit.new_name, FieldEdit::Unspecified) {
                    prop_assert_eq!(&entry.new_name, &None);
                }
            } else if matches!(edit.new_name, FieldEdit::Unspecified | FieldEdit::Keep) {
                prop_assert_eq!(&entry.new_name, &old.and_then(|o| o.new_name.clone()));
            }
        }
        // Entries nobody asked about are untouched.
        for entry in &before {
            if !last.iter().any(|e| e.name == entry.name) {
                prop_assert!(after.contains(entry), "{:?} changed in\n{}", entry, output);
            }
        }
        if compat {
            let names: Vec<&str> = after.iter().map(|e| e.name.as_str()).collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            prop_assert_eq!(names, sorted);
        } else {
            for (name, chunk) in &generated.entries {
                if !last.iter().any(|e| &e.name == name) {
                    prop_assert!(output.contains(chunk.as_str()), "entry text of {} changed in\n{}", name, output);
                }
            }
        }

        // Editing twice changes nothing.
        let again = set_images(&output, &edits, &opts).expect("edits again");
        prop_assert_eq!(&again, &output);

        // Lines outside the images block stay byte-for-byte.
        prop_assert!(output.starts_with(&generated.before), "prefix changed:\n{}", output);
        if generated.block.is_empty() {
            prop_assert!(output.starts_with(&text), "existing text changed:\n{}", output);
        } else {
            prop_assert!(output.ends_with(&generated.after), "suffix changed:\n{}", output);
        }
        // Line endings follow the file.
        if text.contains("\r\n") {
            prop_assert_eq!(output.matches('\n').count(), output.matches("\r\n").count());
        } else {
            prop_assert!(!output.contains('\r'));
        }
    }

    #[test]
    fn replica_edits_hold_and_are_idempotent(
        generated in arb_kustomization(),
        edits in prop::collection::vec((prop::sample::select(vec!["backend", "worker", "db"]), 0..50i64), 1..4),
        compat in any::<bool>(),
    ) {
        let text = generated.text();
        let edits: Vec<ReplicaEdit> = edits
            .into_iter()
            .map(|(name, count)| ReplicaEdit { name: name.to_owned(), count })
            .collect();
        let opts = EditOptions { kustomize_compat: compat };
        let output = set_replicas_with(&text, &edits, &opts).expect("edits");
        let read = read_replicas(&output).expect("reads");
        for edit in &edits {
            let last = edits.iter().rev().find(|e| e.name == edit.name).expect("present");
            prop_assert!(read.contains(last), "{:?} missing in\n{}", last, output);
        }
        prop_assert_eq!(set_replicas_with(&output, &edits, &opts).expect("again"), output.clone());
        prop_assert!(output.starts_with(&generated.before));
        prop_assert_eq!(read_images(&output).expect("images"), read_images(&text).expect("images"));
    }
}
