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
use gitops_core::retention::oci::OciBackend;
use gitops_core::retention::{
    ApplyReport, DeployedDigest, ExecuteOptions, OverlayImage, Progress, RetentionBackend,
    RetentionPlan, RunInput, overlay_images, render_plan, render_summary,
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
}

/// Runs `gitops retention ...`.
pub fn run(command: RetentionCommand, ctx: &Context) -> anyhow::Result<Status> {
    match command {
        RetentionCommand::Plan(args) => execute(&args, false, ctx),
        RetentionCommand::Apply(args) => execute(&args.common, args.apply, ctx),
    }
}

fn execute(args: &RetentionArgs, apply: bool, ctx: &Context) -> anyhow::Result<Status> {
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

    let options = ConnectOptions {
        insecure_registries: args.insecure_registry.clone(),
        concurrency: args.concurrency.max(1),
        ..ConnectOptions::default()
    };
    let registry = Registry::for_ref(&repository, &options).map_err(exit::external)?;
    let backend = OciBackend::new(registry, &repository, args.concurrency);
    let progress = TerminalProgress::new(ctx.json());
    let now = ctx.now;
    let outcome = block_on(async {
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
        };
        gitops_core::retention::run(&backend, &input, options, &progress)
            .await
            .map(|(plan, report)| (plan, report, deployed))
    })?;
    let (plan, report, deployed) = outcome.map_err(exit::external)?;
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
