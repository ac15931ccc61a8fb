//! `gitops kustomize set-image|set-replicas`: format-preserving kustomization edits.
//!
//! The edit itself is pure (`gitops_core::kustomize`); this module finds the file, resolves
//! digests for `--pin-digest`, warns about image names no resource uses, prints a diff for
//! `--dry-run` and writes atomically (temporary file + rename, nothing when unchanged).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use gitops_core::kustomize::{
    self, EditOptions, FieldEdit, ImageEdit, ImageEntry, KustomizeError, ReplicaEdit,
};
use serde::Serialize;

use crate::context::Context;
use crate::exit::{self, Status};
use crate::github_actions::{self, Level, Location};

/// `gitops kustomize` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum KustomizeCommand {
    /// Set images like `kustomize edit set image`, changing only the lines that must change.
    ///
    /// Arguments use kustomize's grammar: NAME=NEWNAME:TAG@DIGEST, NAME=NEWNAME, NAME:TAG,
    /// NAME@DIGEST, NAME:TAG@DIGEST; `*` in place of NEWNAME, TAG or DIGEST keeps the existing
    /// value. Later arguments win for the same name. Comments, key order, indentation and
    /// quoting of everything else stay byte-for-byte.
    ///
    /// Unlike kustomize, a plain NAME:TAG keeps an existing newName, and setting a tag drops an
    /// old digest unless one is given too (and vice versa), so a stale pin never outlives a
    /// deploy; --kustomize-compat reproduces kustomize exactly. A warning (exit 1 with
    /// --require-used) names images no resource in the build uses.
    SetImage(SetImageArgs),
    /// Set replica counts like `kustomize edit set replicas` (NAME=COUNT).
    SetReplicas(SetReplicasArgs),
}

/// Arguments of `gitops kustomize set-image`.
#[derive(Debug, clap::Args)]
pub struct SetImageArgs {
    /// Directory holding kustomization.yaml, kustomization.yml or Kustomization.
    pub dir: PathBuf,
    /// Images to set (e.g. `backend=ghcr.io/acme/backend:v2`, `backend:v2`, `backend@sha256:...`).
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Reproduce kustomize exactly: replace a matching entry wholesale (a plain `backend:v2`
    /// drops `newName` and `tagSuffix`) and sort `images:` by name.
    #[arg(long)]
    pub kustomize_compat: bool,
    /// Resolve each tag to its manifest digest in the registry and write `digest:` too, so what
    /// runs is immutable.
    #[arg(long)]
    pub pin_digest: bool,
    /// Print the diff instead of writing the file.
    #[arg(long)]
    pub dry_run: bool,
    /// Fail (exit 1) when no resource in the build uses an image name, instead of warning.
    #[arg(long)]
    pub require_used: bool,
}

/// Arguments of `gitops kustomize set-replicas`.
#[derive(Debug, clap::Args)]
pub struct SetReplicasArgs {
    /// Directory holding kustomization.yaml, kustomization.yml or Kustomization.
    pub dir: PathBuf,
    /// Replica counts as NAME=COUNT (e.g. `backend=3`).
    #[arg(value_name = "NAME=COUNT")]
    pub replicas: Vec<String>,
    /// Reproduce kustomize exactly (entries replaced wholesale, `replicas:` sorted by name).
    #[arg(long)]
    pub kustomize_compat: bool,
    /// Print the diff instead of writing the file.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `gitops kustomize ...`.
pub fn run(command: KustomizeCommand, ctx: &Context) -> anyhow::Result<Status> {
    match command {
        KustomizeCommand::SetImage(args) => set_image(args, ctx),
        KustomizeCommand::SetReplicas(args) => set_replicas(args, ctx),
    }
}

/// The JSON report of one edit.
#[derive(Debug, Serialize)]
struct Report {
    /// The kustomization file.
    file: String,
    /// Whether the file content changed (or would, with `--dry-run`).
    changed: bool,
    /// Whether the file was written.
    written: bool,
    /// `--dry-run`.
    dry_run: bool,
    /// The edits applied, in kustomize's argument grammar.
    edits: Vec<String>,
    /// Entries of the edited list afterwards (images or replicas named by the edits).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    images: Vec<ImageEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    replicas: Vec<ReplicaEdit>,
    /// Warnings (image names no resource uses, resources that could not be scanned).
    warnings: Vec<String>,
    /// Unified diff of the change (empty when unchanged).
    diff: String,
}

fn set_image(args: SetImageArgs, ctx: &Context) -> anyhow::Result<Status> {
    let file = KustomizationFile::find(&args.dir)?;
    let mut edits = kustomize::parse_image_args(&args.images)?;
    let options = EditOptions {
        kustomize_compat: args.kustomize_compat,
    };
    if args.pin_digest {
        let existing = kustomize::read_images(&file.text).map_err(|e| file.error(e))?;
        pin_digests(&mut edits, &existing, ctx)?;
    }
    let edited = kustomize::set_images(&file.text, &edits, &options).map_err(|e| file.error(e))?;

    let mut warnings = Vec::new();
    let used = images_in_build(&args.dir, &mut warnings, 0, &mut BTreeSet::new());
    let mut unused = Vec::new();
    for edit in &edits {
        if !used
            .iter()
            .any(|image| kustomize::image_matches(&edit.name, image))
        {
            unused.push(edit.name.clone());
            let found: BTreeSet<&str> = used
                .iter()
                .map(|image| kustomize::split_image(image).0)
                .collect();
            let found = if found.is_empty() {
                "no container images found".to_owned()
            } else {
                format!(
                    "images used: {}",
                    found.into_iter().collect::<Vec<_>>().join(", ")
                )
            };
            warnings.push(format!(
                "no resource in the build of {} uses image `{}` ({found}); kustomize silently ignores an entry that matches nothing, so this deploys nothing: check the name (it must match the container's image without tag, registry included)",
                args.dir.display(),
                edit.name
            ));
        }
    }
    let images = match kustomize::read_images(&edited) {
        Ok(after) => after
            .into_iter()
            .filter(|entry| edits.iter().any(|e| e.name == entry.name))
            .collect(),
        Err(err) => {
            // Another entry kustomize cannot build (say, an unquoted numeric tag): the edit
            // itself is fine, but say so.
            warnings.push(format!("{}: {err}", file.display_path()));
            Vec::new()
        }
    };
    if args.require_used && !unused.is_empty() {
        emit_warnings(&warnings, &file, ctx);
        return Err(exit::Denied(anyhow::anyhow!(
            "image name(s) {} match no container in the build of {}; nothing was written",
            unused.join(", "),
            args.dir.display()
        ))
        .into());
    }
    finish(
        &file,
        edited,
        Report {
            file: file.path.display().to_string(),
            changed: false,
            written: false,
            dry_run: args.dry_run,
            edits: edits.iter().map(ToString::to_string).collect(),
            images,
            replicas: Vec::new(),
            warnings,
            diff: String::new(),
        },
        ctx,
    )
}

fn set_replicas(args: SetReplicasArgs, ctx: &Context) -> anyhow::Result<Status> {
    let file = KustomizationFile::find(&args.dir)?;
    let edits = kustomize::parse_replica_args(&args.replicas)?;
    let options = EditOptions {
        kustomize_compat: args.kustomize_compat,
    };
    let edited =
        kustomize::set_replicas_with(&file.text, &edits, &options).map_err(|e| file.error(e))?;
    let replicas = kustomize::read_replicas(&edited)
        .map_err(|e| file.error(e))?
        .into_iter()
        .filter(|entry| edits.iter().any(|e| e.name == entry.name))
        .collect();
    finish(
        &file,
        edited,
        Report {
            file: file.path.display().to_string(),
            changed: false,
            written: false,
            dry_run: args.dry_run,
            edits: edits
                .iter()
                .map(|e| format!("{}={}", e.name, e.count))
                .collect(),
            images: Vec::new(),
            replicas,
            warnings: Vec::new(),
            diff: String::new(),
        },
        ctx,
    )
}

/// Prints, diffs and writes the result.
fn finish(
    file: &KustomizationFile,
    edited: String,
    mut report: Report,
    ctx: &Context,
) -> anyhow::Result<Status> {
    report.changed = edited != file.text;
    report.diff = if report.changed {
        unified_diff(&file.display_path(), &file.text, &edited)
    } else {
        String::new()
    };
    if report.changed && !report.dry_run {
        write_atomically(&file.path, &edited)?;
        report.written = true;
    }
    emit_warnings(&report.warnings, file, ctx);
    if ctx.json() {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !report.changed {
        println!(
            "{} already holds {}; nothing to change",
            file.display_path(),
            report.edits.join(" ")
        );
    } else if report.dry_run {
        print!("{}", report.diff);
        eprintln!("dry run: {} was not written", file.display_path());
    } else {
        println!("updated {}", file.display_path());
        for entry in &report.images {
            println!("  {}", describe_image(entry));
        }
        for entry in &report.replicas {
            println!("  {}: {} replicas", entry.name, entry.count);
        }
    }
    if github_actions::in_actions() {
        github_actions::set_outputs([
            ("file", report.file.as_str()),
            ("changed", if report.changed { "true" } else { "false" }),
        ])?;
    }
    Ok(Status::Success)
}

fn describe_image(entry: &ImageEntry) -> String {
    let mut fields = Vec::new();
    if let Some(new_name) = &entry.new_name {
        fields.push(format!("newName {new_name}"));
    }
    if let Some(tag) = &entry.new_tag {
        fields.push(format!("newTag {tag}"));
    }
    if let Some(digest) = &entry.digest {
        fields.push(format!("digest {digest}"));
    }
    if let Some(suffix) = &entry.tag_suffix {
        fields.push(format!("tagSuffix {suffix}"));
    }
    format!("{}: {}", entry.name, fields.join(", "))
}

fn emit_warnings(warnings: &[String], file: &KustomizationFile, ctx: &Context) {
    for warning in warnings {
        if !ctx.json() || ctx.verbose {
            eprintln!("warning: {warning}");
        }
        let path = file.display_path();
        github_actions::annotation(
            Level::Warning,
            warning,
            &Location {
                file: Some(&path),
                title: Some("gitops kustomize"),
                ..Location::default()
            },
        );
    }
}

/// The kustomization file of a directory, read.
struct KustomizationFile {
    path: PathBuf,
    text: String,
}

impl KustomizationFile {
    fn find(dir: &Path) -> anyhow::Result<Self> {
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read directory {}", dir.display()))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry =
                entry.with_context(|| format!("cannot read directory {}", dir.display()))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        let name = kustomize::find_kustomization(&dir.display().to_string(), &names)?;
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {} (is it UTF-8 text?)", path.display()))?;
        Ok(Self { path, text })
    }

    fn display_path(&self) -> String {
        self.path.display().to_string()
    }

    /// An editor error with `path:line:column` in front.
    fn error(&self, err: KustomizeError) -> anyhow::Error {
        let prefix = match err.location() {
            Some((line, column)) => format!("{}:{line}:{column}", self.path.display()),
            None => self.path.display().to_string(),
        };
        anyhow::Error::new(err).context(format!("cannot edit {prefix}"))
    }
}

/// Fills in `digest` for every edit that names a tag, by resolving `repository:tag` in its
/// registry. The repository is the edit's `newName`, else the entry's existing `newName`, else
/// the image name; the tag is the edit's, else (`*`/unspecified) the entry's existing one.
fn pin_digests(
    edits: &mut [ImageEdit],
    existing: &[ImageEntry],
    ctx: &Context,
) -> anyhow::Result<()> {
    use gitops_core::image_ref::ImageRef;
    use gitops_core::registry::{ConnectOptions, Registry};

    let options = ConnectOptions::default();
    for edit in edits.iter_mut() {
        if edit.digest.as_set().is_some() {
            continue;
        }
        let current = existing.iter().find(|entry| entry.name == edit.name);
        let repository = edit
            .new_name
            .as_set()
            .map(str::to_owned)
            .or_else(|| current.and_then(|c| c.new_name.clone()))
            .unwrap_or_else(|| edit.name.clone());
        let tag = edit
            .new_tag
            .as_set()
            .map(str::to_owned)
            .or_else(|| current.and_then(|c| c.new_tag.clone()))
            .with_context(|| {
                format!(
                    "--pin-digest: `{edit}` names no tag and the kustomization has none for `{}`; give one (e.g. `{}:v1`)",
                    edit.name, edit.name
                )
            })?;
        let text = format!("{repository}:{tag}");
        let reference = ImageRef::parse(&text)
            .with_context(|| format!("--pin-digest: `{text}` is not an image reference"))?;
        let registry = Registry::for_ref(&reference, &options).map_err(exit::external)?;
        let descriptor = crate::context::block_on(registry.resolve(&reference))?
            .map_err(exit::external)
            .with_context(|| format!("--pin-digest: cannot resolve {text} to a digest"))?;
        if ctx.verbose {
            eprintln!("resolved {text} -> {}", descriptor.digest);
        }
        if matches!(edit.new_tag, FieldEdit::Unspecified) {
            // Keep the tag that was resolved next to its digest (default semantics would
            // otherwise drop it when the digest is set).
            edit.new_tag = FieldEdit::Keep;
        }
        edit.digest = FieldEdit::Set(descriptor.digest);
    }
    Ok(())
}

/// Container images the build of `dir` sees before its own `images:` apply: `image:` fields
/// of local resources and patches, through bases (with the bases' own `images:` applied).
fn images_in_build(
    dir: &Path,
    warnings: &mut Vec<String>,
    depth: usize,
    visited: &mut BTreeSet<PathBuf>,
) -> Vec<String> {
    let mut images = Vec::new();
    let key = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    if depth > 32 || !visited.insert(key) {
        return images;
    }
    let Ok(file) = KustomizationFile::find(dir) else {
        warnings.push(format!(
            "{} has no kustomization file; its images were not checked",
            dir.display()
        ));
        return images;
    };
    let paths = match kustomize::resource_paths(&file.text) {
        Ok(paths) => paths,
        Err(err) => {
            warnings.push(format!(
                "cannot list the resources of {}: {err}",
                file.display_path()
            ));
            return images;
        }
    };
    match kustomize::patch_sources(&file.text) {
        Ok(patches) => {
            for inline in &patches.inline {
                images.extend(kustomize::container_images(inline).unwrap_or_default());
            }
            for relative in &patches.files {
                if let Ok(text) = std::fs::read_to_string(dir.join(relative)) {
                    images.extend(kustomize::container_images(&text).unwrap_or_default());
                }
            }
        }
        Err(err) => warnings.push(format!(
            "cannot list the patches of {}: {err}",
            file.display_path()
        )),
    }
    for relative in paths {
        let path = dir.join(&relative);
        if path.is_dir() {
            let inner = images_in_build(&path, warnings, depth + 1, visited);
            let entries = KustomizationFile::find(&path)
                .ok()
                .and_then(|f| kustomize::read_images(&f.text).ok())
                .unwrap_or_default();
            images.extend(
                inner
                    .iter()
                    .map(|image| kustomize::transform_reference(&entries, image)),
            );
        } else {
            match std::fs::read_to_string(&path) {
                Ok(text) => match kustomize::container_images(&text) {
                    Ok(found) => images.extend(found),
                    Err(err) => {
                        warnings.push(format!("cannot scan {} for images: {err}", path.display()))
                    }
                },
                Err(err) => warnings.push(format!("cannot read {}: {err}", path.display())),
            }
        }
    }
    images
}

/// Writes `text` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees a half-written file. Keeps the file's permissions.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".gitops-kustomize-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    temp.write_all(text.as_bytes())
        .and_then(|()| temp.as_file().sync_all())
        .with_context(|| format!("cannot write a temporary file in {}", dir.display()))?;
    if let Ok(metadata) = std::fs::metadata(path) {
        // Best effort: a failure here only leaves default permissions.
        let _ = std::fs::set_permissions(temp.path(), metadata.permissions());
    }
    temp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// A unified diff (3 lines of context) between two texts.
pub(crate) fn unified_diff(path: &str, before: &str, after: &str) -> String {
    let a: Vec<&str> = before.split_inclusive('\n').collect();
    let b: Vec<&str> = after.split_inclusive('\n').collect();
    let ops = diff_lines(&a, &b);
    let mut out = format!("--- a/{path}\n+++ b/{path}\n");
    const CONTEXT: usize = 3;
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| !matches!(op, Op::Same(..)))
        .map(|(i, _)| i)
        .collect();
    let mut i = 0;
    while i < changed.len() {
        let start = changed[i].saturating_sub(CONTEXT);
        let mut end = changed[i];
        while i < changed.len() && changed[i] <= end + 2 * CONTEXT {
            end = changed[i];
            i += 1;
        }
        let end = (end + CONTEXT + 1).min(ops.len());
        let (mut a_start, mut b_start) = (0, 0);
        for op in &ops[..start] {
            match op {
                Op::Same(..) => {
                    a_start += 1;
                    b_start += 1;
                }
                Op::Del(_) => a_start += 1,
                Op::Add(_) => b_start += 1,
            }
        }
        let hunk = &ops[start..end];
        let a_len = hunk.iter().filter(|op| !matches!(op, Op::Add(_))).count();
        let b_len = hunk.iter().filter(|op| !matches!(op, Op::Del(_))).count();
        out.push_str(&format!(
            "@@ -{},{a_len} +{},{b_len} @@\n",
            a_start + usize::from(a_len > 0),
            b_start + usize::from(b_len > 0)
        ));
        for op in hunk {
            let (sign, line) = match op {
                Op::Same(line) => (' ', *line),
                Op::Del(line) => ('-', *line),
                Op::Add(line) => ('+', *line),
            };
            out.push(sign);
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
    }
    out
}

enum Op<'a> {
    Same(&'a str),
    Del(&'a str),
    Add(&'a str),
}

/// Line diff: common prefix and suffix, then an LCS table over the (small) middle.
fn diff_lines<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<Op<'a>> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut ops: Vec<Op<'a>> = a[..prefix].iter().map(|l| Op::Same(l)).collect();
    if am.len().saturating_mul(bm.len()) > 4_000_000 {
        ops.extend(am.iter().map(|l| Op::Del(l)));
        ops.extend(bm.iter().map(|l| Op::Add(l)));
    } else {
        let (n, m) = (am.len(), bm.len());
        let mut lcs = vec![0u32; (n + 1) * (m + 1)];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i * (m + 1) + j] = if am[i] == bm[j] {
                    lcs[(i + 1) * (m + 1) + j + 1] + 1
                } else {
                    lcs[(i + 1) * (m + 1) + j].max(lcs[i * (m + 1) + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && am[i] == bm[j] {
                ops.push(Op::Same(am[i]));
                i += 1;
                j += 1;
            } else if i < n && (j == m || lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1]) {
                ops.push(Op::Del(am[i]));
                i += 1;
            } else {
                ops.push(Op::Add(bm[j]));
                j += 1;
            }
        }
    }
    ops.extend(a[a.len() - suffix..].iter().map(|l| Op::Same(l)));
    ops
}
