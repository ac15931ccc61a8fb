//! `gitops push`: push a built image (OCI layout directory or tar, as written by
//! `docker buildx build --output type=oci`) with all its tags at once, recording the source
//! commit and git tree hash as annotations so `gitops promote --tree` can find it later.

use std::path::PathBuf;

use anyhow::Context as _;
use gitops_core::registry::Registry;
use gitops_core::registry::promote::BlobAction;
use gitops_core::registry::push::{ImageSource, PushOptions, build_annotations, push};
use gitops_core::tag::{TagInput, TagScheme};
use serde::Serialize;

use super::image::{RegistryArgs, parse_ref, registry_error};
use super::promote::git_rev_parse;
use crate::context::{Context, block_on};
use crate::exit::Status;

/// Arguments of `gitops push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// OCI layout directory or tar (`docker buildx build --output type=oci,dest=image.tar`).
    #[arg(value_name = "SOURCE")]
    pub source: PathBuf,
    /// Target repository (`REG/app`, `oci:PATH`).
    #[arg(long, value_name = "REPO")]
    pub image: String,
    /// Environment whose tags to write (`<prefix>-<sha7>-<timestamp>`, `<prefix>-latest`).
    #[arg(long, value_name = "ENV", required_unless_present = "tags")]
    pub env: Option<String>,
    /// Explicit tags (repeatable), instead of or in addition to the environment's.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Source commit (default: the local repository's HEAD).
    #[arg(long, value_name = "SHA")]
    pub revision: Option<String>,
    /// Git tree hash of the sources (default: HEAD's tree).
    #[arg(long, value_name = "HASH")]
    pub tree: Option<String>,
    /// Do not add revision/tree annotations (push the manifest byte for byte).
    #[arg(long)]
    pub no_annotations: bool,
    /// Which manifest of the layout to push (its `org.opencontainers.image.ref.name`).
    #[arg(long, value_name = "NAME")]
    pub source_tag: Option<String>,
    /// Mount missing blobs from this repository of the same registry.
    #[arg(long, value_name = "REPO")]
    pub mount_from: Option<String>,
    /// Print the plan and the requests it would make; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Serialize)]
struct Report<'a> {
    image: &'a str,
    digest: &'a str,
    media_type: &'a str,
    tags: &'a [String],
    annotations: &'a std::collections::BTreeMap<String, String>,
    blobs_present: usize,
    blobs_mounted: usize,
    blobs_uploaded: usize,
    requests: u64,
    bytes_transferred: u64,
    dry_run: bool,
    planned_requests: &'a [String],
}

/// Runs `gitops push`.
pub fn run(args: PushArgs, ctx: &Context) -> anyhow::Result<Status> {
    // A missing local source is the caller's mistake (exit 2), not a registry failure (exit 3).
    if !args.source.exists() {
        anyhow::bail!(
            "{} does not exist: give the OCI image layout folder or OCI tar the build wrote \
             (e.g. `docker buildx build --output type=oci,dest=image.tar`)",
            args.source.display()
        );
    }
    let target = parse_ref(&args.image)?.without_tag_or_digest();
    let (revision, tree) = if args.no_annotations {
        (None, None)
    } else {
        let revision = match &args.revision {
            Some(r) => Some(r.clone()),
            None => git_rev_parse("HEAD").ok(),
        };
        let tree = match &args.tree {
            Some(t) => Some(t.clone()),
            None => git_rev_parse("HEAD^{tree}").ok(),
        };
        if revision.is_none() || tree.is_none() {
            eprintln!(
                "warning: not in a git repository and no --revision/--tree: the image records no source, so promote --tree cannot find it"
            );
        }
        (revision, tree)
    };
    let mut tags = Vec::new();
    if let Some(env) = &args.env {
        let policy = ctx.policy()?;
        let (env_name, environment) = policy
            .environment(env)
            .with_context(|| format!("unknown environment '{env}'"))?;
        let sha = revision.clone().context(
            "--env needs the commit sha: pass --revision or run inside the git repository",
        )?;
        let rendered = TagScheme::new(policy)?.render(&TagInput {
            environment: env_name,
            prefix: &environment.tag_prefix,
            sha: &sha,
            time: ctx.build_time()?,
            branch: Some(&environment.branch),
        })?;
        tags.extend(rendered.all());
    }
    for t in &args.tags {
        if !gitops_core::tag::is_valid_tag(t) {
            anyhow::bail!(
                "'{t}' is not a valid OCI tag (1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-')"
            );
        }
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    let source = ImageSource::open(&args.source).map_err(registry_error)?;
    let options = args.registry.options();
    let registry = Registry::for_ref(&target, &options).map_err(registry_error)?;
    let outcome = block_on(push(
        &source,
        &registry,
        &target,
        &tags,
        &PushOptions {
            source_tag: args.source_tag.clone(),
            annotations: build_annotations(revision.as_deref(), tree.as_deref()),
            mount_from: args.mount_from.clone(),
            dry_run: args.dry_run,
            concurrency: options.concurrency,
        },
    ))?
    .map_err(registry_error)?;
    let plan = &outcome.plan;
    let count = |f: fn(&BlobAction) -> bool| plan.blobs.iter().filter(|b| f(&b.action)).count();
    let report = Report {
        image: &plan.target,
        digest: &plan.digest,
        media_type: &plan.media_type,
        tags: &plan.tags,
        annotations: &plan.annotations,
        blobs_present: count(|a| *a == BlobAction::Present),
        blobs_mounted: count(|a| matches!(a, BlobAction::Mount { .. })),
        blobs_uploaded: count(|a| *a == BlobAction::Copy),
        requests: outcome.traffic.requests,
        bytes_transferred: outcome.traffic.bytes_sent + outcome.traffic.bytes_received,
        dry_run: args.dry_run,
        planned_requests: &plan.requests,
    };
    if ctx.json() {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let verb = if args.dry_run { "would push" } else { "pushed" };
        println!("{verb} {}@{}", plan.target, plan.digest);
        for t in &plan.tags {
            println!("  tag {t}");
        }
        println!(
            "  blobs: {} present, {} mounted, {} uploaded",
            report.blobs_present, report.blobs_mounted, report.blobs_uploaded
        );
        if args.dry_run {
            for r in &plan.requests {
                println!("  {r}");
            }
        }
        eprintln!(
            "{} request(s), {} byte(s) transferred",
            report.requests, report.bytes_transferred
        );
    }
    if crate::github_actions::in_actions() {
        crate::github_actions::set_outputs([
            ("digest", plan.digest.as_str()),
            ("tags", plan.tags.join(",").as_str()),
        ])?;
    }
    Ok(Status::Success)
}
