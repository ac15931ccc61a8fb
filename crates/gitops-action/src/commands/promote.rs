//! `gitops promote`: give the tested digest the target environment's tags — a registry-side
//! retag (one GET, one HEAD, one PUT per new tag), never a rebuild.
//!
//! Either name the source (`gitops promote REG/app:dev-abc1234-... --to-env staging`) or let
//! it be found by content (`--image REG/app --tree HASH`, or `--auto` for HEAD's tree): the
//! newest image of the previous environment whose `dev.gitops.tree` annotation equals the
//! tree is promoted, so an unchanged tree is never rebuilt.

use anyhow::{Context as _, bail};
use gitops_core::image_ref::ImageRef;
use gitops_core::registry::promote::{
    PromoteOptions, PromotionOutcome, promote, promote_manifest, traffic,
};
use gitops_core::registry::{ANNOTATION_REVISION, ANNOTATION_TREE, Manifest, Registry};
use gitops_core::tag::{TagInput, TagScheme};
use serde::Serialize;

use super::image::{RegistryArgs, parse_ref, registry_error};
use crate::context::{Context, block_on};
use crate::exit::{Denied, Status};

/// Most source-environment images inspected when looking for a tree.
const MAX_CANDIDATES: usize = 50;

/// Arguments of `gitops promote`.
#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// The image to promote: a tag or `@sha256:` digest reference (`REG/app:dev-...`,
    /// `oci:PATH:tag`). Omit it to find the image by source tree (`--tree`/`--auto`).
    #[arg(value_name = "SRC_REF", required_unless_present_any = ["tree", "auto"])]
    pub source: Option<String>,
    /// Target environment (name or tag prefix).
    #[arg(long = "to-env", value_name = "ENV")]
    pub to_env: String,
    /// Repository to search with --tree/--auto (`REG/app`, `oci:PATH`).
    #[arg(long, value_name = "REPO", required_if_eq_any = [("auto", "true")])]
    pub image: Option<String>,
    /// Promote the image built from this git tree hash.
    #[arg(long, value_name = "HASH", conflicts_with_all = ["source", "auto"], requires = "image")]
    pub tree: Option<String>,
    /// Use the tree of the local repository's HEAD.
    #[arg(long, conflicts_with = "source", requires = "image")]
    pub auto: bool,
    /// Target repository (default: the source's repository).
    #[arg(long, value_name = "REPO")]
    pub to: Option<String>,
    /// Write exactly these tags instead of the environment's `<prefix>-<sha7>-<timestamp>`
    /// and `<prefix>-latest`. Repeatable.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Commit sha for the new tag when the image carries no revision annotation.
    #[arg(long, value_name = "SHA")]
    pub sha: Option<String>,
    /// Print the plan and the requests it would make; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Serialize)]
struct Report<'a> {
    source: &'a str,
    target: &'a str,
    environment: &'a str,
    digest: &'a str,
    media_type: &'a str,
    tags_written: &'a [String],
    tags_skipped: &'a [gitops_core::registry::promote::SkippedTag],
    requests: u64,
    bytes_transferred: u64,
    dry_run: bool,
    planned_requests: &'a [String],
    found_by_tree: Option<&'a str>,
}

/// `git rev-parse <what>` in the current directory.
pub fn git_rev_parse(what: &str) -> anyhow::Result<String> {
    let output = std::process::Command::new("git")
        .args(["rev-parse", what])
        .output()
        .context("cannot run git (needed for --auto / reading HEAD)")?;
    if !output.status.success() {
        bail!(
            "git rev-parse {what} failed: {}; run inside the source repository or pass the value explicitly",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Finds the newest image of `source_env` in `repo` built from `tree`: the environment's
/// moving tag first, then its version tags newest first.
async fn find_by_tree(
    registry: &Registry,
    repo: &ImageRef,
    scheme: &TagScheme,
    source_env: &str,
    tree: &str,
) -> anyhow::Result<Option<(ImageRef, Manifest)>> {
    let tags = registry.list_tags(repo).await.map_err(registry_error)?;
    let mut candidates: Vec<(bool, Option<chrono::DateTime<chrono::Utc>>, String)> = tags
        .into_iter()
        .filter_map(|t| {
            let parsed = scheme.parse(&t)?;
            (parsed.environment.as_deref() == Some(source_env)).then_some((
                parsed.latest,
                parsed.timestamp,
                t,
            ))
        })
        .collect();
    // Moving tag first, then newest first.
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
    let mut seen = std::collections::BTreeSet::new();
    for (_, _, tag) in candidates.into_iter().take(MAX_CANDIDATES) {
        let reference = repo.with_tag(&tag)?;
        let manifest = registry
            .get_manifest(&reference)
            .await
            .map_err(registry_error)?;
        if !seen.insert(manifest.digest.clone()) {
            continue;
        }
        let annotations = manifest.annotations().map_err(registry_error)?;
        if annotations.get(ANNOTATION_TREE).map(String::as_str) == Some(tree) {
            return Ok(Some((repo.with_digest(&manifest.digest)?, manifest)));
        }
    }
    Ok(None)
}

/// Runs `gitops promote`.
pub fn run(args: PromoteArgs, ctx: &Context) -> anyhow::Result<Status> {
    let policy = ctx.policy()?;
    let (env_name, env) = policy.environment(&args.to_env).with_context(|| {
        format!(
            "unknown environment '{}'; known: {}",
            args.to_env,
            policy
                .environments
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let scheme = TagScheme::new(policy)?;
    let options = args.registry.options();
    let tree = match (&args.tree, args.auto) {
        (Some(t), _) => Some(t.clone()),
        (None, true) => Some(git_rev_parse("HEAD^{tree}")?),
        (None, false) => None,
    };
    block_on(async {
        let (source, found_by_tree) = match (&args.source, &tree) {
            (Some(text), _) => (parse_ref(text)?, None),
            (None, Some(tree)) => {
                let image = args
                    .image
                    .as_deref()
                    .context("--tree/--auto need --image REPO")?;
                let repo = parse_ref(image)?.without_tag_or_digest();
                let source_env = policy.promotion_source(env_name).with_context(|| {
                    format!("environment '{env_name}' has no previous environment to promote from (set promote_from)")
                })?;
                let registry = Registry::for_ref(&repo, &options).map_err(registry_error)?;
                match find_by_tree(&registry, &repo, &scheme, source_env, tree).await? {
                    Some((found, manifest)) => (found, Some((tree.clone(), registry, manifest))),
                    None => {
                        return Err(Denied(anyhow::anyhow!(
                            "no image of '{source_env}' in {} was built from tree {tree}; build and push one (gitops push records dev.gitops.tree)",
                            repo.name()
                        ))
                        .into());
                    }
                }
            }
            (None, None) => bail!("give SRC_REF, or --image with --tree/--auto"),
        };
        let target = match &args.to {
            Some(text) => parse_ref(text)?.without_tag_or_digest(),
            None => source.without_tag_or_digest(),
        };
        let (found_by_tree, searched, mut known_manifest) = match found_by_tree {
            Some((tree, registry, manifest)) => (Some(tree), Some(registry), Some(manifest)),
            None => (None, None, None),
        };
        let src = match searched {
            Some(registry) => registry,
            None => Registry::for_ref(&source, &options).map_err(registry_error)?,
        };
        let dst = if Registry::same_store(&source, &target) {
            src.clone()
        } else {
            Registry::for_ref(&target, &options).map_err(registry_error)?
        };
        let time = ctx.build_time()?;
        let render = |sha: &str| {
            scheme.render(&TagInput {
                environment: env_name,
                prefix: &env.tag_prefix,
                sha,
                time,
                branch: Some(&env.branch),
            })
        };
        let sha_in_tag = source
            .tag
            .as_deref()
            .and_then(|t| scheme.parse(t))
            .and_then(|p| p.sha7);
        // The commit for the new tag: --sha, else the sha7 in the source tag when the
        // template needs no more than that (then the manifest GET and the tag HEADs can go
        // out together), else the image's revision annotation.
        let upfront_sha = args.sha.clone().or_else(|| {
            let sha7 = sha_in_tag.clone()?;
            let short = render(&sha7).ok()?;
            let long = render(&format!("{sha7}{}", "0".repeat(33))).ok()?;
            (short == long).then_some(sha7)
        });
        let (tags, moving_tag) = if args.tags.is_empty() {
            let sha = match upfront_sha {
                Some(sha) => sha,
                None => {
                    let manifest = match known_manifest.take() {
                        Some(m) => m,
                        None => src.get_manifest(&source).await.map_err(registry_error)?,
                    };
                    let annotated = manifest
                        .annotations()
                        .ok()
                        .and_then(|a| a.get(ANNOTATION_REVISION).cloned());
                    known_manifest = Some(manifest);
                    annotated.or(sha_in_tag).context(
                        "cannot tell which commit the image was built from (no org.opencontainers.image.revision annotation, no sha in the tag); pass --sha",
                    )?
                }
            };
            let rendered = render(&sha)?;
            let moving = rendered.latest.clone();
            (rendered.all(), moving)
        } else {
            (args.tags.clone(), None)
        };
        let promote_options = PromoteOptions {
            moving_tag,
            dry_run: args.dry_run,
            concurrency: options.concurrency,
        };
        let outcome: PromotionOutcome = match &known_manifest {
            Some(manifest) => {
                promote_manifest(
                    &src,
                    &source,
                    manifest,
                    &dst,
                    &target,
                    &tags,
                    &promote_options,
                )
                .await
            }
            None => promote(&src, &source, &dst, &target, &tags, &promote_options).await,
        }
        .map_err(registry_error)?;
        let plan = &outcome.plan;
        // Every request of this command: search, read and writes.
        let total = traffic(&src, &dst, Registry::same_store(&source, &target));
        let report = Report {
            source: &plan.source,
            target: &plan.target,
            environment: env_name,
            digest: &plan.digest,
            media_type: &plan.media_type,
            tags_written: if args.dry_run {
                &[]
            } else {
                &plan.tags_to_write
            },
            tags_skipped: &plan.tags_skipped,
            requests: total.requests,
            bytes_transferred: total.bytes_sent + total.bytes_received,
            dry_run: args.dry_run,
            planned_requests: &plan.requests,
            found_by_tree: found_by_tree.as_deref(),
        };
        if ctx.json() {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            if let Some(tree) = &found_by_tree {
                println!("found {} built from tree {tree}", plan.source);
            }
            if args.dry_run {
                println!(
                    "dry run: promoting {} ({}) to {env_name} would make these requests:",
                    plan.source, plan.digest
                );
                for r in &plan.requests {
                    println!("  {r}");
                }
                if plan.requests.is_empty() {
                    println!("  (none)");
                }
            } else {
                println!("promoted {} to {env_name}", plan.digest);
                for t in &plan.tags_to_write {
                    println!("  wrote   {}:{t}", plan.target);
                }
            }
            for s in &plan.tags_skipped {
                println!("  skipped {}:{} ({})", plan.target, s.tag, s.reason);
            }
            eprintln!(
                "{} request(s), {} byte(s) transferred",
                report.requests, report.bytes_transferred
            );
        }
        if crate::github_actions::in_actions() {
            crate::github_actions::set_outputs([
                ("digest", plan.digest.as_str()),
                ("tags", plan.tags_to_write.join(",").as_str()),
            ])?;
        }
        Ok(Status::Success)
    })?
}
