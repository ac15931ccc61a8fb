//! Format-preserving edits of Kustomization files: `set image` and `set replicas`.
//!
//! Pure: text in, text out. The result holds the `images:` / `replicas:` entries
//! `kustomize edit set ...` would produce, but only the lines that must change do: comments,
//! key order, sequence indentation, quoting of untouched values, a leading `---` and CRLF
//! line endings stay as they were. Every edit is checked by parsing the output again and
//! comparing it with the expected document; a mismatch is an error, never a broken file.
//!
//! Two semantics (see [`EditOptions`]): the default keeps what the argument does not
//! mention (a plain `backend:v2` keeps an existing `newName`), while
//! `kustomize_compat` reproduces kustomize exactly (the entry is replaced wholesale and
//! `images:` is sorted by name).

mod args;
mod model;
mod scalar;
mod text;
mod usage;

pub use args::{
    parse_image_arg, parse_image_args, parse_replica_arg, parse_replica_args, split_image,
};
pub use usage::{
    PatchSources, container_images, image_matches, patch_sources, resource_paths,
    transform_reference,
};

use serde::Serialize;

/// The file names kustomize accepts for a kustomization, in its order of preference.
pub const KUSTOMIZATION_FILE_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// What an image argument says about one field of an `images:` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "action", content = "value", rename_all = "snake_case")]
pub enum FieldEdit {
    /// `*`: keep the existing value (leave the field out when there is none).
    Keep,
    /// The argument does not mention the field. By default the existing value stays, except
    /// that setting a tag clears a digest that is not also given (and vice versa), so a stale
    /// pin never outlives a deploy. With `kustomize_compat` the field is removed.
    Unspecified,
    /// Write this value.
    Set(String),
}

impl FieldEdit {
    /// The value to write, if any.
    pub fn as_set(&self) -> Option<&str> {
        match self {
            Self::Set(value) => Some(value),
            Self::Keep | Self::Unspecified => None,
        }
    }
}

/// One `set image` request: which image (by the name used in the resources) and what to
/// do with `newName`, `newTag` and `digest`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ImageEdit {
    /// Image name as used in the resources (no tag or digest), e.g. `ghcr.io/acme/backend`.
    pub name: String,
    /// `newName`.
    pub new_name: FieldEdit,
    /// `newTag`.
    pub new_tag: FieldEdit,
    /// `digest`.
    pub digest: FieldEdit,
}

impl ImageEdit {
    /// An edit that sets the tag (and optionally the digest) and keeps any `newName`.
    pub fn tag(name: impl Into<String>, tag: impl Into<String>, digest: Option<String>) -> Self {
        Self {
            name: name.into(),
            new_name: FieldEdit::Unspecified,
            new_tag: FieldEdit::Set(tag.into()),
            digest: digest.map_or(FieldEdit::Unspecified, FieldEdit::Set),
        }
    }
}

impl std::fmt::Display for ImageEdit {
    /// Renders the edit back in kustomize's argument grammar.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let field = |edit: &FieldEdit| match edit {
            FieldEdit::Keep => Some(args::PRESERVE.to_owned()),
            FieldEdit::Set(value) => Some(value.clone()),
            FieldEdit::Unspecified => None,
        };
        f.write_str(&self.name)?;
        if let Some(new_name) = field(&self.new_name) {
            write!(f, "={new_name}")?;
        }
        if let Some(tag) = field(&self.new_tag) {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = field(&self.digest) {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// How to apply image edits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EditOptions {
    /// Reproduce `kustomize edit set image` exactly: replace a matching entry wholesale
    /// (dropping `newName`, `tagSuffix` and anything the argument does not give) and sort
    /// `images:` (and `replicas:`) by name. Formatting is still preserved.
    pub kustomize_compat: bool,
}

/// One `set replicas` request: `name=count`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ReplicaEdit {
    /// Resource name (with or without the overlay's `namePrefix`).
    pub name: String,
    /// Desired replica count.
    pub count: i64,
}

/// One entry of a kustomization's `images:` list, as read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ImageEntry {
    /// `name`: the image name used in the resources.
    pub name: String,
    /// `newName`.
    pub new_name: Option<String>,
    /// `newTag`.
    pub new_tag: Option<String>,
    /// `digest`.
    pub digest: Option<String>,
    /// `tagSuffix` (kustomize v5: appended to the original tag).
    pub tag_suffix: Option<String>,
}

impl ImageEntry {
    /// The reference this entry renders a base container `image: <name>:<base_tag>` into,
    /// following kustomize's image transformer.
    pub fn render(&self, base_tag: Option<&str>) -> String {
        let mut reference = self.new_name.clone().unwrap_or_else(|| self.name.clone());
        let (tag, digest) = match (&self.new_tag, &self.digest) {
            (Some(tag), Some(digest)) => (Some(tag.clone()), Some(digest.clone())),
            (Some(tag), None) => (Some(tag.clone()), None),
            (None, Some(digest)) => (None, Some(digest.clone())),
            (None, None) => match &self.tag_suffix {
                Some(suffix) => (
                    Some(format!("{}{suffix}", base_tag.unwrap_or_default())),
                    None,
                ),
                None => (base_tag.map(str::to_owned), None),
            },
        };
        if let Some(tag) = tag.filter(|t| !t.is_empty()) {
            reference.push(':');
            reference.push_str(&tag);
        }
        if let Some(digest) = digest {
            reference.push('@');
            reference.push_str(&digest);
        }
        reference
    }
}

/// What went wrong reading or editing a kustomization.
#[derive(Debug, thiserror::Error)]
pub enum KustomizeError {
    /// `set image` without arguments.
    #[error(
        "no image specified: give at least one argument such as `backend:v2` or `backend=ghcr.io/acme/backend:v2`"
    )]
    NoImageSpecified,
    /// An image argument that does not follow kustomize's grammar.
    #[error(
        "invalid image argument `{arg}`: {reason}; use one of: <image>=<newimage>:<newtag>, \
         <image>=<newimage>@<digest>, <image>=<newimage>:<newtag>@<digest>, <image>=<newimage>, \
         <image>:<newtag>, <image>:<newtag>@<digest>, <image>@<digest> (`*` keeps a field)"
    )]
    InvalidImageArg {
        /// The argument as given.
        arg: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `set replicas` without arguments.
    #[error("no replicas specified: give at least one argument such as `backend=3`")]
    NoReplicaSpecified,
    /// A replicas argument that is not `name=count`.
    #[error("invalid replicas argument `{arg}`: {reason}; use <name>=<count>, e.g. `backend=3`")]
    InvalidReplicaArg {
        /// The argument as given.
        arg: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file is not valid YAML.
    #[error("the kustomization is not valid YAML{}: {message}; fix the file and retry (nothing was changed)", at(*.line, *.column))]
    Malformed {
        /// 1-based line of the problem (0 when unknown).
        line: usize,
        /// 1-based column of the problem (0 when unknown).
        column: usize,
        /// The parser's description.
        message: String,
        /// The parser error.
        #[source]
        source: serde_norway::Error,
    },
    /// Valid YAML, but not a kustomization shape this editor can change.
    #[error("unusable kustomization{}: {problem}; {hint} (nothing was changed)", at(*.line, *.column))]
    Invalid {
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// What is wrong.
        problem: String,
        /// What to do about it.
        hint: String,
    },
    /// The edited text did not parse back to the expected document (a bug in this editor).
    #[error(
        "the edited kustomization would not hold what was asked ({detail}); nothing was written. \
         Edit this file by hand, and please report it with the file attached"
    )]
    Verification {
        /// How the result differs from what was expected.
        detail: String,
    },
    /// No kustomization file in a directory.
    #[error(
        "no kustomization file (kustomization.yaml, kustomization.yml or Kustomization) in {dir}; pass the overlay directory that holds one"
    )]
    NotFound {
        /// The directory searched, as given.
        dir: String,
    },
    /// More than one kustomization file in a directory (kustomize refuses this too).
    #[error("found several kustomization files in {dir} ({}); keep exactly one", .found.join(", "))]
    Ambiguous {
        /// The directory searched, as given.
        dir: String,
        /// The candidate names present.
        found: Vec<String>,
    },
}

fn at(line: usize, column: usize) -> String {
    match (line, column) {
        (0, _) => String::new(),
        (line, 0) => format!(" at line {line}"),
        (line, column) => format!(" at line {line}, column {column}"),
    }
}

impl KustomizeError {
    /// The 1-based `(line, column)` in the kustomization the error points at, if any.
    pub fn location(&self) -> Option<(usize, usize)> {
        match self {
            Self::Malformed { line, column, .. } | Self::Invalid { line, column, .. }
                if *line > 0 =>
            {
                Some((*line, *column))
            }
            _ => None,
        }
    }
}

/// Which kustomization file a directory holds, given the names of the files in it.
///
/// `dir` only labels errors. Exactly one of [`KUSTOMIZATION_FILE_NAMES`] must be present.
pub fn find_kustomization<I, S>(dir: &str, names: I) -> Result<&'static str, KustomizeError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let names: Vec<S> = names.into_iter().collect();
    let found: Vec<&'static str> = KUSTOMIZATION_FILE_NAMES
        .into_iter()
        .filter(|candidate| names.iter().any(|n| n.as_ref() == *candidate))
        .collect();
    match found.as_slice() {
        [] => Err(KustomizeError::NotFound {
            dir: dir.to_owned(),
        }),
        [one] => Ok(one),
        several => Err(KustomizeError::Ambiguous {
            dir: dir.to_owned(),
            found: several.iter().map(|s| (*s).to_owned()).collect(),
        }),
    }
}

/// Applies `set image` edits (later edits for the same name win) and returns the new text.
///
/// The text is unchanged (byte for byte) when the file already holds what was asked.
pub fn set_images(
    text: &str,
    edits: &[ImageEdit],
    opts: &EditOptions,
) -> Result<String, KustomizeError> {
    let edits = last_edit_wins(edits, |e| e.name.as_str());
    text::apply(text, &model::images_plan(&edits, opts))
}

/// Applies `set replicas` edits (later edits for the same name win) and returns the new text.
pub fn set_replicas(text: &str, edits: &[ReplicaEdit]) -> Result<String, KustomizeError> {
    set_replicas_with(text, edits, &EditOptions::default())
}

/// [`set_replicas`] with options (`kustomize_compat` sorts `replicas:` by name).
pub fn set_replicas_with(
    text: &str,
    edits: &[ReplicaEdit],
    opts: &EditOptions,
) -> Result<String, KustomizeError> {
    let edits = last_edit_wins(edits, |e| e.name.as_str());
    text::apply(text, &model::replicas_plan(&edits, opts))
}

/// The `images:` entries of a kustomization.
pub fn read_images(text: &str) -> Result<Vec<ImageEntry>, KustomizeError> {
    model::read_images(text)
}

/// The `replicas:` entries of a kustomization.
pub fn read_replicas(text: &str) -> Result<Vec<ReplicaEdit>, KustomizeError> {
    model::read_replicas(text)
}

fn last_edit_wins<'a, T: Clone>(edits: &'a [T], name: impl Fn(&'a T) -> &'a str) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(edits.len());
    let mut names: Vec<&str> = Vec::with_capacity(edits.len());
    for edit in edits {
        let key = name(edit);
        match names.iter().position(|n| *n == key) {
            Some(index) => out[index] = edit.clone(),
            None => {
                names.push(key);
                out.push(edit.clone());
            }
        }
    }
    out
}
