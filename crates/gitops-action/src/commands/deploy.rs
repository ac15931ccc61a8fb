//! `gitops deploy`: write images into an environment's overlay as one GitOps commit.
//!
//! Also home of the pieces `rollback`, `history`, `diff` and `backport` share: opening the
//! GitOps repository, reading the ledger, and the deploy executor itself.

use std::collections::BTreeSet;

use anyhow::Context as _;
use gitops_core::gitops_repo::{
    Author, BaseTree, EditError, FileWrite, GitCredentials, GitopsRepo, GitopsRepoError, Location,
    Proposal, RetryPolicy, WriteOutcome, WritePlan, WriteRequest,
};
use gitops_core::kustomize::{
    self, EditOptions, FieldEdit, ImageEdit, KUSTOMIZATION_FILE_NAMES, ReplicaEdit,
};
use gitops_core::ledger::{self, DeployKind, DeployMessage, LedgerEntry, LedgerImage};
use gitops_core::policy::{Environment, Policy, WriteMode};
use serde_json::json;

use crate::context::Context;
use crate::exit::{self, Status};
use crate::github_actions;

/// How many commits `history`, `diff` and `rollback` read from the GitOps branch.
pub(crate) const LEDGER_DEPTH: usize = 10_000;

/// Kinds a deploy may declare (rollbacks come from `gitops rollback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeployKindArg {
    /// A regular deploy.
    Deploy,
    /// A hotfix (counted as a remediation by DORA metrics).
    Hotfix,
}

/// Where the GitOps repository is (shared by the ledger commands).
#[derive(Debug, Clone, clap::Args)]
pub struct RepoArgs {
    /// GitOps repository: a URL (https, ssh, git, user@host:path), a `file://` URL or a
    /// local path. Default: the policy's `gitops.repo`.
    #[arg(long, value_name = "URL|PATH")]
    pub gitops_repo: Option<String>,
    /// Branch of the GitOps repository. Default: the environment's `gitops_branch`, else
    /// `gitops.branch`.
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// In a local checkout, the remote to push to (when it is a network URL).
    #[arg(long, value_name = "NAME", default_value = "origin")]
    pub remote: String,
}

/// Arguments of `gitops deploy`.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// Environment to deploy (its name or tag prefix).
    #[arg(long, value_name = "ENV")]
    pub env: String,
    /// `NAME=REF`: the policy image name and its full reference with tag and/or digest
    /// (`backend=registry.example.com/acme/backend:prod-abc1234-20251203-160000@sha256:...`),
    /// or just a tag (`backend=prod-abc1234-20251203-160000`). Repeat for several images.
    #[arg(long = "image", value_name = "NAME=REF", required = true)]
    pub images: Vec<String>,
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Application commit the images were built from (recorded in the ledger).
    /// Default: `GITHUB_SHA` when set.
    #[arg(long, value_name = "SHA")]
    pub source_commit: Option<String>,
    /// Print the plan and the diff; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Resolve each tag to its manifest digest in the registry and write `digest:` as well.
    #[arg(long)]
    pub pin_digest: bool,
    /// What kind of change this is in the ledger.
    #[arg(long, value_enum, default_value_t = DeployKindArg::Deploy)]
    pub kind: DeployKindArg,
    /// Reproduce `kustomize edit set image` exactly (drop `newName`, sort `images:`).
    #[arg(long)]
    pub kustomize_compat: bool,
}

/// Runs `gitops deploy`.
pub fn run(args: DeployArgs, ctx: &Context) -> anyhow::Result<Status> {
    let policy = ctx.policy()?;
    let (env_name, env) = environment(policy, &args.env)?;
    let mut images = args
        .images
        .iter()
        .map(|arg| parse_image(policy, arg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.pin_digest {
        pin_digests(&mut images)?;
    }
    let source_commit = args
        .source_commit
        .clone()
        .or_else(|| std::env::var("GITHUB_SHA").ok())
        .filter(|sha| !sha.trim().is_empty());
    let input = DeployInput {
        environment: env_name.to_owned(),
        images,
        kind: match args.kind {
            DeployKindArg::Deploy => DeployKind::Deploy,
            DeployKindArg::Hotfix => DeployKind::Hotfix,
        },
        source_commit,
        rollback_of: None,
        options: EditOptions {
            kustomize_compat: args.kustomize_compat,
        },
    };
    let mut repo = open_repo(policy, &args.repo)?;
    let branch = branch(policy, env, &args.repo);
    let result = execute(ctx, policy, env, &branch, &mut repo, &input, args.dry_run)?;
    report(ctx, &input, &result)
}

/// Looks an environment up by name or tag prefix.
pub(crate) fn environment<'p>(
    policy: &'p Policy,
    name: &str,
) -> anyhow::Result<(&'p str, &'p Environment)> {
    policy.environment(name).with_context(|| {
        format!(
            "unknown environment '{name}'; the policy defines: {}",
            policy
                .environments
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// The GitOps branch: `--branch`, else the environment's, else `gitops.branch`.
pub(crate) fn branch(policy: &Policy, env: &Environment, args: &RepoArgs) -> String {
    args.branch
        .clone()
        .unwrap_or_else(|| policy.gitops_branch(env).to_owned())
}

/// Opens the GitOps repository named by `--gitops-repo` or the policy.
pub(crate) fn open_repo(policy: &Policy, args: &RepoArgs) -> anyhow::Result<GitopsRepo> {
    let text = args.gitops_repo.as_deref().unwrap_or(&policy.gitops.repo);
    let location = Location::parse(text);
    GitopsRepo::open(&location, &args.remote, GitCredentials::from_env()).map_err(repo_error)
}

/// Maps a repository error to an exit code: remote failures are external (3), the rest are
/// usage or content problems (2).
pub(crate) fn repo_error(err: GitopsRepoError) -> anyhow::Error {
    match err {
        GitopsRepoError::Fetch { .. }
        | GitopsRepoError::Auth { .. }
        | GitopsRepoError::PushFailed { .. }
        | GitopsRepoError::TempDir { .. } => exit::external(err),
        other => other.into(),
    }
}

/// The ledger entries of a branch, oldest first.
pub(crate) fn read_ledger(repo: &mut GitopsRepo, branch: &str) -> anyhow::Result<Vec<LedgerEntry>> {
    let commits = repo.log(branch, LEDGER_DEPTH).map_err(repo_error)?;
    Ok(ledger::parse_ledger(&commits))
}

/// Parses `NAME=REF` against the policy's images.
fn parse_image(policy: &Policy, arg: &str) -> anyhow::Result<LedgerImage> {
    let Some((name, reference)) = arg.split_once('=') else {
        anyhow::bail!(
            "--image '{arg}' must be NAME=REF, e.g. backend=registry.example.com/acme/backend:prod-abc1234-20251203-160000"
        );
    };
    let (name, reference) = (name.trim(), reference.trim());
    let Some(spec) = policy.images.iter().find(|image| image.name == name) else {
        anyhow::bail!(
            "--image '{arg}': '{name}' is not an image of the policy; known images: {}",
            policy
                .images
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    if reference.is_empty() {
        anyhow::bail!("--image '{arg}': the reference after '=' is empty");
    }
    // A bare tag means the policy's repository for the image.
    let full = if reference.contains(['/', ':', '@']) {
        reference.to_owned()
    } else {
        format!("{}:{reference}", policy.image_repository(spec))
    };
    let (repository, tag, digest) = kustomize::split_image(&full);
    if repository.is_empty() || (tag.is_none() && digest.is_none()) {
        anyhow::bail!(
            "--image '{arg}': '{full}' needs a tag and/or a digest (repo:tag, repo@sha256:..., repo:tag@sha256:...)"
        );
    }
    if let Some(tag) = tag
        && !gitops_core::tag::is_valid_tag(tag)
    {
        anyhow::bail!("--image '{arg}': '{tag}' is not a valid OCI tag");
    }
    if let Some(digest) = digest
        && !digest.starts_with("sha256:")
        && !digest.starts_with("sha512:")
    {
        anyhow::bail!("--image '{arg}': '{digest}' is not a digest (expected sha256:<64 hex>)");
    }
    Ok(LedgerImage::from_reference(name, &full))
}

/// Resolves each image's tag to its manifest digest in the registry.
fn pin_digests(images: &mut [LedgerImage]) -> anyhow::Result<()> {
    use gitops_core::image_ref::ImageRef;
    use gitops_core::registry::{ConnectOptions, Registry};
    let options = ConnectOptions::default();
    for image in images.iter_mut() {
        if image.digest.is_some() {
            continue;
        }
        let reference = ImageRef::parse(&image.reference)
            .with_context(|| format!("cannot parse image reference '{}'", image.reference))?;
        let registry = Registry::for_ref(&reference, &options).map_err(exit::external)?;
        let descriptor = crate::context::block_on(registry.resolve(&reference))?
            .map_err(exit::external)
            .with_context(|| format!("cannot resolve '{}' to a digest", image.reference))?;
        image.digest = Some(descriptor.digest.clone());
    }
    Ok(())
}

/// What to deploy (from `deploy` flags or a computed rollback).
#[derive(Debug, Clone)]
pub(crate) struct DeployInput {
    /// Environment name.
    pub environment: String,
    /// Images to write.
    pub images: Vec<LedgerImage>,
    /// Deploy, rollback or hotfix.
    pub kind: DeployKind,
    /// Application commit.
    pub source_commit: Option<String>,
    /// For rollbacks: the ledger commit undone.
    pub rollback_of: Option<String>,
    /// Editor options.
    pub options: EditOptions,
}

/// What happened.
#[derive(Debug)]
pub(crate) enum DeployResult {
    /// `--dry-run`: the plan.
    Planned(WritePlan),
    /// Written (or nothing to change).
    Written(WriteOutcome),
}

/// The kustomize edits for a set of ledger images.
fn image_edits(images: &[LedgerImage]) -> Vec<ImageEdit> {
    images
        .iter()
        .map(|image| {
            let (repository, tag, _) = kustomize::split_image(&image.reference);
            ImageEdit {
                name: image.name.clone(),
                new_name: FieldEdit::Set(repository.to_owned()),
                new_tag: tag.map_or(FieldEdit::Unspecified, |t| FieldEdit::Set(t.to_owned())),
                digest: image
                    .digest
                    .clone()
                    .map_or(FieldEdit::Unspecified, FieldEdit::Set),
            }
        })
        .collect()
}

/// Finds the overlay's kustomization file in the base tree.
fn kustomization_path(base: &BaseTree<'_>, overlay: &str) -> Result<String, EditError> {
    let dir = overlay.trim_end_matches('/');
    let mut present = Vec::new();
    for name in KUSTOMIZATION_FILE_NAMES {
        let path = format!("{dir}/{name}");
        if base.read(&path)?.is_some() {
            present.push(name);
        }
    }
    let name = kustomize::find_kustomization(dir, present)?;
    Ok(format!("{dir}/{name}"))
}

/// Most kustomization levels followed when looking for the containers of an overlay.
const MAX_RESOURCE_DEPTH: usize = 16;

/// Joins a resource path to the directory of the kustomization naming it, resolving `..`.
fn join_path(dir: &str, relative: &str) -> Option<String> {
    let mut parts: Vec<&str> = dir
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// Container images of every manifest an overlay builds from (resources followed through
/// bases in the same tree; remote bases are skipped).
fn overlay_container_images(base: &BaseTree<'_>, overlay: &str) -> Vec<String> {
    let mut images = Vec::new();
    let mut pending = vec![(overlay.trim_end_matches('/').to_owned(), 0usize)];
    let mut seen = BTreeSet::new();
    while let Some((dir, depth)) = pending.pop() {
        if depth > MAX_RESOURCE_DEPTH || !seen.insert(dir.clone()) {
            continue;
        }
        let Some(text) = KUSTOMIZATION_FILE_NAMES
            .iter()
            .find_map(|name| base.read(&format!("{dir}/{name}")).ok().flatten())
        else {
            continue;
        };
        for resource in kustomize::resource_paths(&text).unwrap_or_default() {
            let Some(path) = join_path(&dir, &resource) else {
                continue;
            };
            match base.read(&path) {
                Ok(Some(manifest)) => {
                    images.extend(kustomize::container_images(&manifest).unwrap_or_default());
                }
                _ => pending.push((path, depth + 1)),
            }
        }
    }
    images
}

/// Warnings for image names no container of the overlay uses: kustomize ignores such
/// `images:` entries silently, so a typo would deploy nothing.
fn unused_image_warnings(base: &BaseTree<'_>, overlay: &str, names: &[String]) -> Vec<String> {
    let containers = overlay_container_images(base, overlay);
    if containers.is_empty() {
        return Vec::new();
    }
    names
        .iter()
        .filter(|name| !containers.iter().any(|c| kustomize::image_matches(name, c)))
        .map(|name| {
            format!(
                "no container in the resources of {overlay} uses image '{name}' (found: {}); kustomize will ignore its images: entry",
                containers
                    .iter()
                    .map(|c| kustomize::split_image(c).0)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect()
}

/// Adds `path:line:column` to an editor error.
fn locate(path: &str, err: kustomize::KustomizeError) -> EditError {
    match err.location() {
        Some((line, column)) => format!("{path}:{line}:{column}: {err}").into(),
        None => format!("{path}: {err}").into(),
    }
}

/// Computes the plan and, unless `dry_run`, lands it.
pub(crate) fn execute(
    ctx: &Context,
    policy: &Policy,
    env: &Environment,
    branch: &str,
    repo: &mut GitopsRepo,
    input: &DeployInput,
    dry_run: bool,
) -> anyhow::Result<DeployResult> {
    let message = ledger::render_message(
        &policy.gitops.commit_message,
        &DeployMessage {
            environment: input.environment.clone(),
            kind: input.kind,
            images: input.images.clone(),
            source_commit: input.source_commit.clone(),
            rollback_of: input.rollback_of.clone(),
        },
    )?;
    let edits = image_edits(&input.images);
    let overlay = env.overlay.clone();
    let replicas = i64::from(env.replicas);
    let options = input.options;
    let warnings: std::cell::RefCell<Vec<String>> = std::cell::RefCell::new(Vec::new());
    let warnings_ref = &warnings;
    let names: Vec<String> = input.images.iter().map(|i| i.name.clone()).collect();
    let edit = move |base: &BaseTree<'_>| -> Result<Proposal, EditError> {
        let path = kustomization_path(base, &overlay)?;
        *warnings_ref.borrow_mut() = unused_image_warnings(base, &overlay, &names);
        let text = base
            .read(&path)?
            .ok_or_else(|| format!("{path}: the file disappeared"))?;
        let mut edited =
            kustomize::set_images(&text, &edits, &options).map_err(|e| locate(&path, e))?;
        // The policy's replica count goes into the entries the overlay already lists (a
        // new entry for a resource the base lacks would break `kustomize build`).
        let existing = kustomize::read_replicas(&edited).map_err(|e| locate(&path, e))?;
        let replica_edits: Vec<ReplicaEdit> = existing
            .into_iter()
            .filter(|entry| entry.count != replicas)
            .map(|entry| ReplicaEdit {
                name: entry.name,
                count: replicas,
            })
            .collect();
        if !replica_edits.is_empty() {
            edited = kustomize::set_replicas_with(&edited, &replica_edits, &options)
                .map_err(|e| locate(&path, e))?;
        }
        Ok(Proposal {
            files: vec![FileWrite {
                path,
                content: edited,
            }],
            message: message.clone(),
        })
    };
    let request = WriteRequest {
        branch: branch.to_owned(),
        pull_request_prefix: (policy.gitops.mode == WriteMode::PullRequest)
            .then(|| format!("gitops/{}/", input.environment)),
        author: Author {
            name: policy.gitops.author_name.clone(),
            email: policy.gitops.author_email.clone(),
        },
        time: ctx.now,
        retry: RetryPolicy {
            attempts: policy.gitops.push_attempts.max(1),
            ..RetryPolicy::default()
        },
    };
    let result = if dry_run {
        DeployResult::Planned(repo.plan(&request, edit).map_err(repo_error)?)
    } else {
        DeployResult::Written(repo.write(&request, edit).map_err(repo_error)?)
    };
    for warning in warnings.borrow().iter() {
        eprintln!("warning: {warning}");
    }
    Ok(result)
}

/// Prints the result (human or JSON) and sets GitHub Actions outputs.
pub(crate) fn report(
    ctx: &Context,
    input: &DeployInput,
    result: &DeployResult,
) -> anyhow::Result<Status> {
    let verb = input.kind.as_str();
    let images: Vec<serde_json::Value> = input
        .images
        .iter()
        .map(|image| json!({"name": image.name, "reference": image.reference, "digest": image.digest}))
        .collect();
    match result {
        DeployResult::Planned(plan) => {
            let diff: String = plan
                .files
                .iter()
                .map(gitops_core::gitops_repo::unified_diff)
                .collect();
            if ctx.json() {
                let doc = json!({
                    "dry_run": true,
                    "deployed": false,
                    "kind": verb,
                    "environment": input.environment,
                    "repository": plan.location,
                    "branch": plan.branch,
                    "base_commit": plan.base_commit,
                    "changed_files": plan.changed_paths(),
                    "message": plan.message,
                    "images": images,
                    "diff": diff,
                });
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else if plan.is_empty() {
                println!(
                    "{verb} {} (dry run): nothing to change on '{}' of {}",
                    input.environment, plan.branch, plan.location
                );
            } else {
                println!(
                    "{verb} {} (dry run): would commit {} file(s) on '{}' of {} (base {})\n",
                    input.environment,
                    plan.files.len(),
                    plan.target_branch,
                    plan.location,
                    plan.base_commit.as_deref().unwrap_or("none")
                );
                println!("{}", plan.message.trim_end());
                println!();
                print!("{diff}");
            }
        }
        DeployResult::Written(outcome) => {
            let deployed = outcome.commit.is_some();
            if ctx.json() {
                let doc = json!({
                    "dry_run": false,
                    "deployed": deployed,
                    "kind": verb,
                    "environment": input.environment,
                    "repository": outcome.plan.location,
                    "branch": outcome.plan.branch,
                    "pushed_branch": outcome.pushed_branch,
                    "pull_request": outcome.pushed_branch != outcome.plan.branch,
                    "commit": outcome.commit,
                    "base_commit": outcome.plan.base_commit,
                    "changed_files": outcome.plan.changed_paths(),
                    "attempts": outcome.attempts,
                    "images": images,
                });
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else if let Some(commit) = &outcome.commit {
                println!(
                    "{verb} {}: commit {commit} on '{}' of {} ({} file(s), {} attempt(s))",
                    input.environment,
                    outcome.pushed_branch,
                    outcome.plan.location,
                    outcome.plan.files.len(),
                    outcome.attempts
                );
                if outcome.pushed_branch != outcome.plan.branch {
                    println!(
                        "pull-request mode: open a pull request from '{}' into '{}'",
                        outcome.pushed_branch, outcome.plan.branch
                    );
                }
            } else {
                println!(
                    "{verb} {}: already up to date on '{}' of {}; no commit",
                    input.environment, outcome.plan.branch, outcome.plan.location
                );
            }
            if github_actions::in_actions() {
                let files = outcome.plan.changed_paths().join(",");
                github_actions::set_outputs([
                    ("deployed", if deployed { "true" } else { "false" }),
                    ("commit", outcome.commit.as_deref().unwrap_or("")),
                    ("branch", outcome.pushed_branch.as_str()),
                    ("changed-files", files.as_str()),
                ])?;
            }
        }
    }
    Ok(Status::Success)
}

/// Names of the images of an entry, for messages.
pub(crate) fn image_names(images: &[LedgerImage]) -> String {
    let names: BTreeSet<&str> = images.iter().map(|image| image.name.as_str()).collect();
    names.into_iter().collect::<Vec<_>>().join(", ")
}
