//! `gitops retention plan|apply`: image clean-up per environment with a reason for every tag.
//!
//! Exit codes: 0 done (or planned); 3 the registry failed and nothing unsafe was done (an
//! incomplete listing or resolve deletes nothing; a failed delete stops the run).

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use gitops_core::image_ref::ImageRef;
use gitops_core::policy::Policy;
use gitops_core::registry::{ConnectOptions, Registry};
use gitops_core::retention::digitalocean::DigitalOceanBackend;
use gitops_core::retention::ghcr::{GhcrBackend, OwnerKind};
use gitops_core::retention::oci::OciBackend;
use gitops_core::retention::{
    ApplyReport, Deletion, DeployedDigest, ExecuteOptions, OverlayImage, Progress, Removed,
    RetentionBackend, RetentionError, RetentionPlan, RunInput, overlay_images, render_plan,
    render_summary,
};
use gitops_core::tag::TagScheme;

use crate::context::{Context, block_on};
use crate::exit::{self, Status};

/// `gitops retention` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RetentionCommand {
    /// Show what would be kept and deleted, with a reason per tag (never deletes).
    Plan(RetentionArgs),
    /// Delete what the plan allows (a dry run unless `--apply` is given).
    Apply(ApplyArgs),
}

/// Flags shared by `plan` and `apply`.
#[derive(Debug, clap::Args)]
pub struct RetentionArgs {
    /// Repository to clean: `registry/namespace/name` or `oci:PATH` (an OCI image layout).
    #[arg(long, value_name = "REPO")]
    pub image: String,
    /// GitOps repository whose overlays say what is deployed (each environment's `overlay`
    /// folder); those digests are kept. Default: `gitops.repo` of the policy when it is a path.
    #[arg(long, value_name = "PATH")]
    pub gitops_repo: Option<PathBuf>,
    /// Most digests deleted in one run. Default: `retention.max_deletions` (100).
    #[arg(long, value_name = "N")]
    pub max_deletions: Option<u32>,
    /// Registry requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub concurrency: usize,
    /// `HOST:PORT` reached over plain HTTP (loopback hosts always are). Repeatable.
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// How to talk to the registry. `auto`: the GitHub Packages API for `ghcr.io/...`
    /// (GITHUB_TOKEN), the DigitalOcean API for `registry.digitalocean.com/...`
    /// (DIGITALOCEAN_TOKEN), else the OCI distribution API (or the layout for `oci:PATH`).
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    pub backend: BackendKind,
    /// GHCR: whether the package owner is an organisation or a user.
    #[arg(long, value_enum, default_value_t = GhcrOwner::Org)]
    pub ghcr_owner_type: GhcrOwner,
    /// GitHub API address (GitHub Enterprise).
    #[arg(long, env = "GITHUB_API_URL", default_value = gitops_core::retention::ghcr::DEFAULT_API, hide_env_values = true)]
    pub github_api: String,
    /// DigitalOcean API address.
    #[arg(long, env = "GITOPS_DIGITALOCEAN_API", default_value = gitops_core::retention::digitalocean::DEFAULT_API, hide_env_values = true)]
    pub digitalocean_api: String,
}

/// Which API retention uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// Chosen from the repository's host.
    Auto,
    /// OCI distribution API (or OCI layout for `oci:PATH`).
    Registry,
    /// GitHub Packages API (GHCR).
    Ghcr,
    /// DigitalOcean Container Registry API.
    Digitalocean,
}

/// Owner of a GHCR package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GhcrOwner {
    /// An organisation (`/orgs/...`).
    Org,
    /// A user (`/users/...`).
    User,
}

/// `gitops retention apply` flags.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// Common flags.
    #[command(flatten)]
    pub common: RetentionArgs,
    /// Really delete. Without it, `apply` is a dry run like `plan`.
    #[arg(long)]
    pub apply: bool,
    /// DigitalOcean: start a garbage collection after deleting, so the space is freed.
    #[arg(long)]
    pub garbage_collect: bool,
    /// Deletions between two checks of the tags that can move while the run goes on (new
    /// tags, `*-latest`, protected and hand-made tags); one check always runs first.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub recheck_every: u32,
}

/// Runs `gitops retention ...`.
pub fn run(command: RetentionCommand, ctx: &Context) -> anyhow::Result<Status> {
    match command {
        RetentionCommand::Plan(args) => execute(&args, false, false, 256, ctx),
        RetentionCommand::Apply(args) => execute(
            &args.common,
            args.apply,
            args.garbage_collect,
            args.recheck_every as usize,
            ctx,
        ),
    }
}

fn execute(
    args: &RetentionArgs,
    apply: bool,
    garbage_collect: bool,
    recheck_every: usize,
    ctx: &Context,
) -> anyhow::Result<Status> {
    let policy = ctx.policy()?;
    let scheme = TagScheme::new(policy).context("the policy's tag templates are invalid")?;
    let repository = ImageRef::parse(&args.image)
        .with_context(|| format!("--image '{}' is not a repository reference", args.image))?;
    if repository.tag.is_some() || repository.digest.is_some() {
        anyhow::bail!(
            "--image '{}' names a tag or digest; give the repository only (e.g. {})",
            args.image,
            repository.name()
        );
    }
    let overlays = read_overlays(policy, args.gitops_repo.as_deref())?;
    let wanted = overlay_images(policy, &repository.name(), &overlays)
        .context("cannot read the images of an overlay kustomization")?;

    let progress = TerminalProgress::new(ctx.json());
    let now = ctx.now;
    let outcome = block_on(async {
        let backend = AnyBackend::new(args, &repository, garbage_collect)?;
        let deployed = resolve_overlays(&backend, &wanted).await?;
        let input = RunInput {
            policy,
            scheme: &scheme,
            now,
            deployed: &deployed,
            max_deletions: args.max_deletions,
        };
        let options = ExecuteOptions {
            apply,
            concurrency: args.concurrency.max(1),
            recheck_every,
        };
        gitops_core::retention::run(&backend, &input, options, &progress)
            .await
            .map(|(plan, report)| (plan, report, deployed))
    })?;
    let (plan, report, deployed) = match outcome {
        Ok(done) => done,
        // A missing token or a bad pattern is the user's to fix (exit 2), not an outage.
        Err(err @ RetentionError::Config { .. }) => return Err(err.into()),
        Err(err) => return Err(exit::external(err)),
    };
    print(ctx, &plan, &report, &deployed)?;
    if crate::github_actions::in_actions() {
        crate::github_actions::append_summary(&render_summary(&plan, Some(&report)))?;
        crate::github_actions::set_outputs([
            ("deleted", report.deleted().to_string().as_str()),
            ("planned", plan.deletions.len().to_string().as_str()),
        ])?;
    }
    if report.failed() > 0 {
        let first = report
            .outcomes
            .iter()
            .find_map(|o| match &o.status {
                gitops_core::retention::DeletionStatus::Failed { error } => Some(error.clone()),
                _ => None,
            })
            .unwrap_or_default();
        return Err(exit::external(anyhow::anyhow!(
            "{} of {} deletion(s) in {} failed or were not attempted; the rest was left untouched: {first}",
            report.failed(),
            report.outcomes.len(),
            plan.repository
        )));
    }
    Ok(Status::Success)
}

fn print(
    ctx: &Context,
    plan: &RetentionPlan,
    report: &ApplyReport,
    deployed: &[DeployedDigest],
) -> anyhow::Result<()> {
    if ctx.json() {
        let doc = serde_json::json!({ "plan": plan, "report": report, "deployed": deployed });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    print!("{}", render_plan(plan));
    if report.applied {
        println!(
            "Applied: {} digest(s) deleted, {} skipped because a tag moved, {} failed.",
            report.deleted(),
            report.skipped(),
            report.failed()
        );
    } else if !plan.deletions.is_empty() {
        println!("Dry run: nothing was deleted. Run `gitops retention apply --apply` to delete.");
    }
    Ok(())
}

/// `(environment, kustomization text)` of every environment whose overlay exists.
fn read_overlays(policy: &Policy, flag: Option<&Path>) -> anyhow::Result<Vec<(String, String)>> {
    let root = match flag {
        Some(path) => path.to_path_buf(),
        None if !policy.gitops.repo.contains("://") && !policy.gitops.repo.contains('@') => {
            PathBuf::from(&policy.gitops.repo)
        }
        None => return Ok(Vec::new()),
    };
    if flag.is_some() && !root.is_dir() {
        anyhow::bail!(
            "--gitops-repo {}: no such directory; give the checkout of the GitOps repository",
            root.display()
        );
    }
    let mut out = Vec::new();
    for (name, env) in &policy.environments {
        let dir = root.join(&env.overlay);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let Ok(file) =
            gitops_core::kustomize::find_kustomization(&dir.display().to_string(), &names)
        else {
            continue;
        };
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        out.push((name.clone(), text));
    }
    Ok(out)
}

/// Digests of the overlays' images; a tag that cannot be resolved fails the run (the image
/// it names might be deleted otherwise), a tag that no longer exists protects nothing.
async fn resolve_overlays<B: RetentionBackend>(
    backend: &B,
    wanted: &[OverlayImage],
) -> Result<Vec<DeployedDigest>, gitops_core::retention::RetentionError> {
    let mut out = Vec::new();
    for image in wanted {
        let digest = match (&image.digest, &image.tag) {
            (Some(digest), _) => Some(digest.clone()),
            (None, Some(tag)) => backend.resolve(tag).await?,
            (None, None) => None,
        };
        match digest {
            Some(digest) => out.push(DeployedDigest {
                environment: image.environment.clone(),
                digest,
            }),
            None => eprintln!(
                "warning: the {} overlay names tag {} which the registry does not have",
                image.environment,
                image.tag.as_deref().unwrap_or("?")
            ),
        }
    }
    Ok(out)
}

/// The backend chosen by `--backend` and the repository's host (one per run, so the
/// variants' sizes do not matter).
#[allow(clippy::large_enum_variant)]
enum AnyBackend {
    Oci(OciBackend),
    Ghcr(GhcrBackend),
    DigitalOcean(DigitalOceanBackend),
}

fn token(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

impl AnyBackend {
    /// Call inside the runtime (the GitHub client needs it).
    fn new(
        args: &RetentionArgs,
        repository: &ImageRef,
        garbage_collect: bool,
    ) -> Result<Self, RetentionError> {
        let host = repository.registry.as_deref().unwrap_or("");
        let kind = match args.backend {
            BackendKind::Auto if host == "ghcr.io" => BackendKind::Ghcr,
            BackendKind::Auto if host == "registry.digitalocean.com" => BackendKind::Digitalocean,
            BackendKind::Auto => BackendKind::Registry,
            other => other,
        };
        let path = repository.repository.as_str();
        let split = || {
            path.split_once('/')
                .filter(|(a, b)| !a.is_empty() && !b.is_empty())
                .ok_or_else(|| RetentionError::Config {
                    message: format!(
                        "--image '{}': expected {host}/<owner or registry>/<name>",
                        repository.name()
                    ),
                })
        };
        Ok(match kind {
            BackendKind::Ghcr => {
                let (owner, package) = split()?;
                let owner_kind = match args.ghcr_owner_type {
                    GhcrOwner::Org => OwnerKind::Org,
                    GhcrOwner::User => OwnerKind::User,
                };
                Self::Ghcr(GhcrBackend::new(
                    &args.github_api,
                    &token("GITHUB_TOKEN"),
                    owner,
                    owner_kind,
                    package,
                )?)
            }
            BackendKind::Digitalocean => {
                let (registry, name) = split()?;
                Self::DigitalOcean(DigitalOceanBackend::new(
                    &args.digitalocean_api,
                    &token("DIGITALOCEAN_TOKEN"),
                    registry,
                    name,
                    garbage_collect,
                )?)
            }
            BackendKind::Registry | BackendKind::Auto => {
                let options = ConnectOptions {
                    insecure_registries: args.insecure_registry.clone(),
                    concurrency: args.concurrency.max(1),
                    ..ConnectOptions::default()
                };
                let registry = Registry::for_ref(repository, &options).map_err(|err| {
                    RetentionError::Config {
                        message: err.to_string(),
                    }
                })?;
                Self::Oci(OciBackend::new(registry, repository, args.concurrency))
            }
        })
    }
}

impl RetentionBackend for AnyBackend {
    fn describe(&self) -> String {
        match self {
            Self::Oci(b) => b.describe(),
            Self::Ghcr(b) => b.describe(),
            Self::DigitalOcean(b) => b.describe(),
        }
    }

    async fn inventory(
        &self,
        progress: &dyn Progress,
    ) -> Result<gitops_core::retention::Inventory, RetentionError> {
        match self {
            Self::Oci(b) => b.inventory(progress).await,
            Self::Ghcr(b) => b.inventory(progress).await,
            Self::DigitalOcean(b) => b.inventory(progress).await,
        }
    }

    async fn list_tags(&self) -> Result<Vec<String>, RetentionError> {
        match self {
            Self::Oci(b) => b.list_tags().await,
            Self::Ghcr(b) => b.list_tags().await,
            Self::DigitalOcean(b) => b.list_tags().await,
        }
    }

    async fn resolve(&self, tag: &str) -> Result<Option<String>, RetentionError> {
        match self {
            Self::Oci(b) => b.resolve(tag).await,
            Self::Ghcr(b) => b.resolve(tag).await,
            Self::DigitalOcean(b) => b.resolve(tag).await,
        }
    }

    async fn delete(&self, deletion: &Deletion) -> Result<Removed, RetentionError> {
        match self {
            Self::Oci(b) => b.delete(deletion).await,
            Self::Ghcr(b) => b.delete(deletion).await,
            Self::DigitalOcean(b) => b.delete(deletion).await,
        }
    }

    fn requests(&self) -> Option<u64> {
        match self {
            Self::Oci(b) => b.requests(),
            Self::Ghcr(b) => b.requests(),
            Self::DigitalOcean(b) => b.requests(),
        }
    }

    async fn finish(&self, deleted: usize) -> Result<bool, RetentionError> {
        match self {
            Self::Oci(b) => b.finish(deleted).await,
            Self::Ghcr(b) => b.finish(deleted).await,
            Self::DigitalOcean(b) => b.finish(deleted).await,
        }
    }
}

/// A progress bar on a terminal; plain lines otherwise (CI logs); nothing with `--format json`
/// except notes on stderr.
struct TerminalProgress {
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    phase: std::sync::Mutex<(String, u64, u64)>,
}

impl TerminalProgress {
    fn new(json: bool) -> Self {
        let tty = std::io::stderr().is_terminal() && !crate::github_actions::in_actions();
        let bar = (tty && !json).then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg:>18} [{bar:40}] {pos}/{len} {eta}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar
        });
        Self {
            plain: !tty && !json,
            bar,
            phase: std::sync::Mutex::new((String::new(), 0, 0)),
        }
    }
}

impl Progress for TerminalProgress {
    fn start(&self, phase: &str, total: u64) {
        if let Some(bar) = &self.bar {
            bar.reset();
            bar.set_length(total);
            bar.set_message(phase.to_owned());
        } else if self.plain {
            eprintln!("{phase}: {total}");
        }
        if let Ok(mut p) = self.phase.lock() {
            *p = (phase.to_owned(), total, 0);
        }
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        } else if self.plain
            && let Ok(mut p) = self.phase.lock()
        {
            let before = p.2;
            p.2 += n;
            // A line per tenth, so CI logs stay short.
            let step = (p.1 / 10).max(1);
            if p.2 / step != before / step || p.2 == p.1 {
                eprintln!("{}: {}/{}", p.0, p.2, p.1);
            }
        }
    }

    fn note(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(message),
            None => eprintln!("{message}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
