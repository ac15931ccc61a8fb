//! `gitops tag`: image tags for an environment (`dev-<sha7>-<timestamp>` and `dev-latest`),
//! full references for every image, OCI labels; and `gitops tag parse TAG`, the inverse.

use std::collections::BTreeMap;

use anyhow::Context as _;
use gitops_core::image_ref::ImageRef;
use gitops_core::tag::{TagInput, TagScheme, validate_sha};
use serde::Serialize;

use crate::commands::plan::{EventArgs, gather_event, resolve_time};
use crate::context::{Context, emit};
use crate::exit::{Denied, Status};
use crate::github_actions;

/// Arguments of `gitops tag`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TagArgs {
    #[command(subcommand)]
    pub command: Option<TagCommand>,
    #[command(flatten)]
    pub generate: GenerateArgs,
}

/// `gitops tag` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TagCommand {
    /// Read a tag back into environment, short sha and timestamp (exit 1 when it does not
    /// follow the policy's templates).
    Parse {
        /// A tag (`dev-860c190-20251203-120000`) or a full reference (`repo:tag`).
        tag: String,
    },
}

/// Arguments for generating tags.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Environment: its name (`development`) or tag prefix (`dev`). Default: the environment
    /// the event deploys to.
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// When the image enters the environment (RFC 3339). Default: SOURCE_DATE_EPOCH, else now.
    #[arg(long, value_name = "RFC3339")]
    pub time: Option<String>,
    /// Full repository reference (repeatable). Default: every image of the policy.
    #[arg(long = "image", value_name = "REF")]
    pub images: Vec<String>,
    /// The commit's git tree hash for the `dev.gitops.tree` label. Default: looked up in the
    /// local repository when it has the commit (JSON output only).
    #[arg(long, value_name = "HASH")]
    pub tree: Option<String>,
    #[command(flatten)]
    pub event: EventArgs,
}

/// The JSON document of `gitops tag --format json`.
#[derive(Debug, Serialize)]
struct TagOutput {
    /// Full references, per image: immutable first, then the moving tag.
    tags: Vec<String>,
    /// The immutable tag.
    version: String,
    /// The environment's name.
    environment: String,
    /// The environment's tag prefix.
    tag_prefix: String,
    /// OCI image labels.
    labels: BTreeMap<String, String>,
}

/// Runs `gitops tag`.
pub fn run(args: TagArgs, ctx: &Context) -> anyhow::Result<Status> {
    match args.command {
        Some(TagCommand::Parse { tag }) => parse(&tag, ctx),
        None => generate(&args.generate, ctx),
    }
}

fn generate(args: &GenerateArgs, ctx: &Context) -> anyhow::Result<Status> {
    let policy = ctx.policy()?;
    let scheme = TagScheme::new(policy)?;
    // Only gather an event when something is missing: explicit flags need no git or runner.
    let need_event = args.env.is_none() || args.event.sha.is_none();
    let event = if need_event {
        Some(gather_event(&args.event)?.0)
    } else {
        None
    };
    let (env_name, env) = match &args.env {
        Some(name) => policy.environment(name).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown environment '{name}'; known: {}",
                policy
                    .environments
                    .iter()
                    .map(|(n, e)| format!("{n} ({})", e.tag_prefix))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?,
        None => {
            let event = event.as_ref().context("no event")?;
            let found = match &event.environment {
                Some(name) => policy.environment(name),
                None => event
                    .branch
                    .as_deref()
                    .and_then(|b| policy.environment_for_branch(b)),
            };
            found.ok_or_else(|| {
                anyhow::anyhow!(
                    "the event ({} {}) deploys to no environment; pass --env ENV",
                    event.kind,
                    event
                        .branch
                        .as_deref()
                        .or(event.tag.as_deref())
                        .unwrap_or("")
                )
            })?
        }
    };
    let sha = match (&args.event.sha, &event) {
        (Some(sha), _) => validate_sha(sha)?,
        (None, Some(event)) => event.sha.clone(),
        (None, None) => anyhow::bail!("--sha is missing"),
    };
    let branch = args
        .event
        .branch
        .clone()
        .or_else(|| event.as_ref().and_then(|e| e.branch.clone()));
    let time = resolve_time(args.time.as_deref(), ctx)?;
    let rendered = scheme.render(&TagInput {
        environment: env_name,
        prefix: &env.tag_prefix,
        sha: &sha,
        time,
        branch: branch.as_deref(),
    })?;
    let repositories: Vec<ImageRef> = if args.images.is_empty() {
        policy
            .images
            .iter()
            .map(|image| ImageRef::parse(&policy.image_repository(image)))
            .collect::<Result<_, _>>()?
    } else {
        args.images
            .iter()
            .map(|text| {
                let image = ImageRef::parse(text)?;
                if image.tag.is_some() || image.digest.is_some() {
                    anyhow::bail!(
                        "--image {text}: give the repository without a tag or digest (tags are generated)"
                    );
                }
                Ok(image)
            })
            .collect::<anyhow::Result<_>>()?
    };
    let tags = rendered.all();
    let mut references = Vec::with_capacity(repositories.len() * tags.len());
    for repository in &repositories {
        for tag in &tags {
            references.push(repository.with_tag(tag)?.to_string());
        }
    }

    let labels_needed = ctx.json() || github_actions::in_actions();
    if ctx.json() {
        let labels = labels(args, env_name, &sha, &rendered.version, time, labels_needed);
        let out = TagOutput {
            tags: references.clone(),
            version: rendered.version.clone(),
            environment: env_name.to_owned(),
            tag_prefix: env.tag_prefix.clone(),
            labels,
        };
        emit(&format!("{}\n", serde_json::to_string_pretty(&out)?))?;
    } else {
        let mut text = references.join("\n");
        text.push('\n');
        emit(&text)?;
    }
    if github_actions::in_actions() {
        let labels = labels(args, env_name, &sha, &rendered.version, time, true);
        let label_lines = labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n");
        github_actions::set_outputs([
            ("tags", references.join("\n").as_str()),
            ("version", rendered.version.as_str()),
            ("environment", env_name),
            ("tag_prefix", env.tag_prefix.as_str()),
            ("labels", label_lines.as_str()),
        ])?;
    }
    Ok(Status::Success)
}

fn labels(
    args: &GenerateArgs,
    env_name: &str,
    sha: &str,
    version: &str,
    time: chrono::DateTime<chrono::Utc>,
    with_git: bool,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    labels.insert("org.opencontainers.image.revision".into(), sha.to_owned());
    labels.insert(
        "org.opencontainers.image.created".into(),
        time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    labels.insert(
        "org.opencontainers.image.version".into(),
        version.to_owned(),
    );
    labels.insert("dev.gitops.environment".into(), env_name.to_owned());
    let dir = std::env::current_dir().ok();
    let source = match (
        std::env::var("GITHUB_SERVER_URL"),
        std::env::var("GITHUB_REPOSITORY"),
    ) {
        (Ok(server), Ok(repo)) if !server.is_empty() && !repo.is_empty() => {
            Some(format!("{}/{repo}", server.trim_end_matches('/')))
        }
        _ if with_git => dir
            .as_deref()
            .and_then(gitops_core::event::local::origin_url),
        _ => None,
    };
    if let Some(source) = source {
        labels.insert("org.opencontainers.image.source".into(), source);
    }
    let tree = args.tree.clone().or_else(|| {
        with_git
            .then(|| {
                dir.as_deref()
                    .and_then(|d| gitops_core::event::local::tree_of(d, sha))
            })
            .flatten()
    });
    if let Some(tree) = tree {
        labels.insert("dev.gitops.tree".into(), tree);
    }
    labels
}

fn parse(text: &str, ctx: &Context) -> anyhow::Result<Status> {
    let policy = ctx.policy()?;
    let scheme = TagScheme::new(policy)?;
    // Accept a full reference too: take its tag.
    let tag = if text.contains('/') || text.contains('@') {
        ImageRef::parse(text)?
            .tag
            .with_context(|| format!("reference '{text}' has no tag"))?
    } else {
        text.trim().to_owned()
    };
    let Some(parsed) = scheme.parse(&tag) else {
        return Err(Denied(anyhow::anyhow!(
            "'{tag}' does not follow the policy's tag templates ('{}'{})",
            policy.tags.template,
            policy
                .tags
                .latest
                .as_deref()
                .map(|l| format!(", '{l}'"))
                .unwrap_or_default()
        ))
        .into());
    };
    if ctx.json() {
        emit(&format!("{}\n", serde_json::to_string_pretty(&parsed)?))?;
    } else {
        let text = format!(
            "prefix:      {}\nenvironment: {}\nsha7:        {}\ntimestamp:   {}\nlatest:      {}\n",
            parsed.prefix,
            parsed.environment.as_deref().unwrap_or("-"),
            parsed.sha7.as_deref().unwrap_or("-"),
            parsed
                .timestamp
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_else(|| "-".to_owned()),
            parsed.latest
        );
        emit(&text)?;
    }
    Ok(Status::Success)
}
