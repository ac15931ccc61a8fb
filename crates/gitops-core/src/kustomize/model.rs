//! The semantic side of an edit: the document as data, what the `images:` / `replicas:`
//! list must hold afterwards, and reading entries back.
//!
//! The text editor ([`super::text`]) changes lines; this module decides what the lines must
//! mean, and the result is verified against it.

use serde_norway::{Mapping, Value};

use super::{EditOptions, FieldEdit, ImageEdit, ImageEntry, KustomizeError, ReplicaEdit};

/// Which list an edit changes and how.
#[derive(Debug, Clone)]
pub(crate) enum Plan {
    /// `set image`.
    Images {
        /// Deduplicated edits (later arguments already won).
        edits: Vec<ImageEdit>,
        /// kustomize's exact semantics.
        compat: bool,
    },
    /// `set replicas`.
    Replicas {
        /// Deduplicated edits.
        edits: Vec<ReplicaEdit>,
        /// kustomize's exact semantics (sorting).
        compat: bool,
    },
}

/// Field order for new entries and fields: the order people write by hand.
const IMAGE_FIELDS: &[&str] = &["name", "newName", "newTag", "digest", "tagSuffix"];
/// kustomize's own (alphabetical) order, used when the file already follows it.
const IMAGE_FIELDS_SORTED: &[&str] = &["digest", "name", "newName", "newTag", "tagSuffix"];
const REPLICA_FIELDS: &[&str] = &["name", "count"];
const REPLICA_FIELDS_SORTED: &[&str] = &["count", "name"];

impl Plan {
    /// The top-level key of the list.
    pub(crate) fn key(&self) -> &'static str {
        match self {
            Self::Images { .. } => "images",
            Self::Replicas { .. } => "replicas",
        }
    }

    /// Field order for new fields: hand-written order, or kustomize's alphabetical one.
    pub(crate) fn field_order(&self, alphabetical: bool) -> &'static [&'static str] {
        match (self, alphabetical) {
            (Self::Images { .. }, false) => IMAGE_FIELDS,
            (Self::Images { .. }, true) => IMAGE_FIELDS_SORTED,
            (Self::Replicas { .. }, false) => REPLICA_FIELDS,
            (Self::Replicas { .. }, true) => REPLICA_FIELDS_SORTED,
        }
    }

    /// The field that, found before `name`, shows the file uses kustomize's key order.
    pub(crate) fn alphabetical_marker(&self) -> &'static str {
        match self {
            Self::Images { .. } => "digest",
            Self::Replicas { .. } => "count",
        }
    }
}

/// The plan for `set image`.
pub(crate) fn images_plan(edits: &[ImageEdit], opts: &EditOptions) -> Plan {
    Plan::Images {
        edits: edits.to_vec(),
        compat: opts.kustomize_compat,
    }
}

/// The plan for `set replicas`.
pub(crate) fn replicas_plan(edits: &[ReplicaEdit], opts: &EditOptions) -> Plan {
    Plan::Replicas {
        edits: edits.to_vec(),
        compat: opts.kustomize_compat,
    }
}

/// A problem found in the data, located by list index and field so the text layer can
/// point at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DataProblem {
    /// Index in the list, `None` for the list itself.
    pub index: Option<usize>,
    /// Field inside the entry, if any.
    pub field: Option<&'static str>,
    /// What is wrong.
    pub problem: String,
    /// What to do.
    pub hint: String,
}

/// One entry of the list after the edit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    /// Index of the existing entry it came from (`None`: new entry).
    pub source: Option<usize>,
    /// What the entry must hold.
    pub entry: Mapping,
}

/// Parses the document; an empty document is an empty mapping.
pub(crate) fn parse_document(text: &str) -> Result<Mapping, KustomizeError> {
    let value: Value = serde_norway::from_str(text).map_err(malformed)?;
    match value {
        Value::Mapping(mapping) => Ok(mapping),
        Value::Null => Ok(Mapping::new()),
        other => Err(KustomizeError::Invalid {
            line: 0,
            column: 0,
            problem: format!(
                "the document is {} rather than a mapping of fields",
                describe(&other)
            ),
            hint: "a kustomization starts with fields such as `resources:` or `images:`".to_owned(),
        }),
    }
}

/// A parser error as [`KustomizeError::Malformed`], its location taken out of the message.
pub(crate) fn malformed(source: serde_norway::Error) -> KustomizeError {
    let (line, column) = source.location().map_or((0, 0), |l| (l.line(), l.column()));
    let message = source
        .to_string()
        .replacen(&format!(" at line {line} column {column}"), "", 1);
    KustomizeError::Malformed {
        line,
        column,
        message,
        source,
    }
}

/// The entries of the list under `key` (absent or null: none).
pub(crate) fn list<'a>(doc: &'a Mapping, key: &'static str) -> Result<&'a [Value], DataProblem> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Sequence(items)) => {
            for (index, item) in items.iter().enumerate() {
                let Value::Mapping(entry) = item else {
                    return Err(DataProblem {
                        index: Some(index),
                        field: None,
                        problem: format!(
                            "`{key}` entry {} is {}, not a mapping",
                            index + 1,
                            describe(item)
                        ),
                        hint: format!(
                            "write each `{key}` entry as `- name: ...` with its fields below"
                        ),
                    });
                };
                match entry.get("name") {
                    None | Some(Value::String(_)) => {}
                    Some(other) => {
                        return Err(DataProblem {
                            index: Some(index),
                            field: Some("name"),
                            problem: format!(
                                "the `name` of `{key}` entry {} is {}, not a string",
                                index + 1,
                                describe(other)
                            ),
                            hint: "quote the name".to_owned(),
                        });
                    }
                }
            }
            Ok(items)
        }
        Some(other) => Err(DataProblem {
            index: None,
            field: None,
            problem: format!("`{key}:` holds {}, not a list", describe(other)),
            hint: format!("write `{key}:` as a list of entries (`- name: ...`)"),
        }),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "empty (null)".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

fn entry_name(entry: &Value) -> Option<&str> {
    entry.get("name").and_then(Value::as_str)
}

/// What the list must hold after the edit.
pub(crate) fn outcomes(plan: &Plan, existing: &[Value]) -> Vec<Outcome> {
    match plan {
        Plan::Images { edits, compat } => merge_list(
            existing,
            edits.iter().map(|e| (e.name.as_str(), e)),
            *compat,
            |old, edit| merge_image(old, edit, *compat),
        ),
        Plan::Replicas { edits, compat } => merge_list(
            existing,
            edits.iter().map(|e| (e.name.as_str(), e)),
            *compat,
            |old, edit| merge_replica(old, edit, *compat),
        ),
    }
}

fn merge_list<'e, E: 'e>(
    existing: &[Value],
    edits: impl Iterator<Item = (&'e str, &'e E)> + Clone,
    compat: bool,
    merge: impl Fn(Option<&Mapping>, &E) -> Mapping,
) -> Vec<Outcome> {
    let find_edit = |name: Option<&str>| {
        name.and_then(|name| edits.clone().find(|(n, _)| *n == name).map(|(_, e)| e))
    };
    let mut out: Vec<Outcome> = Vec::with_capacity(existing.len() + 1);
    for (index, item) in existing.iter().enumerate() {
        let name = entry_name(item);
        let mapping = item.as_mapping().cloned().unwrap_or_default();
        if compat {
            // kustomize keys entries by name: one entry per name survives. An edited name
            // keeps its first entry; an untouched duplicate keeps its last one.
            let dup_index = out
                .iter()
                .position(|o| o.entry.get("name").and_then(Value::as_str) == name);
            match (find_edit(name), dup_index) {
                (Some(_), Some(_)) => continue,
                (None, Some(dup)) => {
                    out.remove(dup);
                }
                _ => {}
            }
        }
        let entry = match find_edit(name) {
            Some(edit) => merge(Some(&mapping), edit),
            None => mapping,
        };
        out.push(Outcome {
            source: Some(index),
            entry,
        });
    }
    for (name, edit) in edits {
        if !existing.iter().any(|item| entry_name(item) == Some(name)) {
            out.push(Outcome {
                source: None,
                entry: merge(None, edit),
            });
        }
    }
    if compat {
        out.sort_by(|a, b| {
            let name = |o: &Outcome| {
                o.entry
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            name(a).cmp(&name(b))
        });
    }
    out
}

fn merge_image(old: Option<&Mapping>, edit: &ImageEdit, compat: bool) -> Mapping {
    let fields = [
        ("newName", &edit.new_name),
        ("newTag", &edit.new_tag),
        ("digest", &edit.digest),
    ];
    if compat {
        let mut entry = Mapping::new();
        entry.insert("name".into(), edit.name.clone().into());
        for (key, field) in fields {
            let value = match field {
                FieldEdit::Set(value) => Some(Value::String(value.clone())),
                FieldEdit::Keep => old
                    .and_then(|o| o.get(key))
                    .filter(|v| !matches!(v, Value::Null) && v.as_str() != Some(""))
                    .cloned(),
                FieldEdit::Unspecified => None,
            };
            if let Some(value) = value {
                entry.insert(key.into(), value);
            }
        }
        return entry;
    }
    let mut entry = old.cloned().unwrap_or_else(|| {
        let mut entry = Mapping::new();
        entry.insert("name".into(), edit.name.clone().into());
        entry
    });
    // Setting one half of the version (tag or digest) without the other drops the other
    // half, so an old digest can never keep pinning the previous build.
    let version_changes = edit.new_tag.as_set().is_some() || edit.digest.as_set().is_some();
    for (key, field) in fields {
        match field {
            FieldEdit::Set(value) => {
                entry.insert(key.into(), Value::String(value.clone()));
            }
            FieldEdit::Keep => {}
            FieldEdit::Unspecified => {
                if key != "newName" && version_changes {
                    entry.remove(key);
                }
            }
        }
    }
    entry
}

fn merge_replica(old: Option<&Mapping>, edit: &ReplicaEdit, compat: bool) -> Mapping {
    let mut entry = match old {
        Some(old) if !compat => old.clone(),
        _ => {
            let mut entry = Mapping::new();
            entry.insert("name".into(), edit.name.clone().into());
            entry
        }
    };
    entry.insert("count".into(), Value::Number(edit.count.into()));
    entry
}

/// Reads `images:`.
pub(crate) fn read_images(text: &str) -> Result<Vec<ImageEntry>, KustomizeError> {
    let doc = parse_document(text)?;
    let items = list(&doc, "images").map_err(|p| super::text::locate(text, "images", p))?;
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let field = |key: &'static str| -> Result<Option<String>, KustomizeError> {
            match item.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(super::text::locate(
                    text,
                    "images",
                    DataProblem {
                        index: Some(index),
                        field: Some(key),
                        problem: format!(
                            "`{key}` of `images` entry {} is {}, not a string (kustomize cannot build this)",
                            index + 1,
                            describe(other)
                        ),
                        hint: format!("quote the value, e.g. {key}: \"...\""),
                    },
                )),
            }
        };
        out.push(ImageEntry {
            name: field("name")?.unwrap_or_default(),
            new_name: field("newName")?,
            new_tag: field("newTag")?,
            digest: field("digest")?,
            tag_suffix: field("tagSuffix")?,
        });
    }
    Ok(out)
}

/// Reads `replicas:`.
pub(crate) fn read_replicas(text: &str) -> Result<Vec<ReplicaEdit>, KustomizeError> {
    let doc = parse_document(text)?;
    let items = list(&doc, "replicas").map_err(|p| super::text::locate(text, "replicas", p))?;
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let count = match item.get("count").and_then(Value::as_i64) {
            Some(count) => count,
            None => {
                let other = item.get("count");
                return Err(super::text::locate(
                    text,
                    "replicas",
                    DataProblem {
                        index: Some(index),
                        field: Some("count"),
                        problem: format!(
                            "`count` of `replicas` entry {} is {}, not a whole number",
                            index + 1,
                            other.map_or_else(|| "missing".to_owned(), describe)
                        ),
                        hint: "write `count: <number>` without quotes".to_owned(),
                    },
                ));
            }
        };
        out.push(ReplicaEdit {
            name: entry_name(item).unwrap_or_default().to_owned(),
            count,
        });
    }
    Ok(out)
}
