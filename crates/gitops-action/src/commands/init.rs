//! `gitops init`: scaffolds gitops.yaml, the Kustomize base and overlays, Argo CD or Flux
//! manifests and the GitHub workflow. Never overwrites a file without `--force`; a second run
//! changes nothing; every file is written atomically.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use gitops_core::scaffold::{DEFAULT_WORKFLOW, Engine, ScaffoldOptions, app_name_from, scaffold};
use serde::Serialize;

use crate::context::Context;
use crate::exit::Status;

/// The GitOps engine (CLI side of [`Engine`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineArg {
    /// Argo CD `Application` per environment (automated prune and self-heal).
    Argocd,
    /// Flux `GitRepository` + `Kustomization` per environment.
    Flux,
}

impl EngineArg {
    fn to_lib(self) -> Engine {
        match self {
            Self::Argocd => Engine::Argocd,
            Self::Flux => Engine::Flux,
        }
    }
}

/// Arguments of `gitops init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Folder to scaffold into (created when missing).
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
    /// Images the repository builds, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "backend,frontend",
        value_name = "NAMES"
    )]
    pub images: Vec<String>,
    /// Registry and namespace of the images. Default: the embedded default policy's registry.
    #[arg(long, value_name = "REGISTRY")]
    pub registry: Option<String>,
    /// GitOps engine whose manifests to write.
    #[arg(long, value_enum, default_value_t = EngineArg::Argocd)]
    pub engine: EngineArg,
    /// Application name (prefix of Argo CD/Flux objects). Default: the folder's name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Clone URL Argo CD/Flux read the overlays from. Default: the folder's `origin` remote,
    /// else a placeholder to edit.
    #[arg(long, value_name = "URL")]
    pub repo_url: Option<String>,
    /// Reusable workflow the generated workflow calls.
    #[arg(long, default_value = DEFAULT_WORKFLOW, value_name = "OWNER/REPO/PATH@REF")]
    pub workflow: String,
    /// Overwrite files that exist with different contents.
    #[arg(long)]
    pub force: bool,
    /// Only print what would be written.
    #[arg(long)]
    pub dry_run: bool,
}

/// What happens to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Action {
    /// New file.
    Create,
    /// Exists with the same contents: nothing to do.
    Unchanged,
    /// Exists with other contents and `--force` was given.
    Overwrite,
    /// Exists with other contents; left alone.
    Skip,
}

impl Action {
    fn verb(self, dry_run: bool) -> &'static str {
        match (self, dry_run) {
            (Self::Create, false) => "created",
            (Self::Create, true) => "would create",
            (Self::Unchanged, _) => "unchanged",
            (Self::Overwrite, false) => "overwritten",
            (Self::Overwrite, true) => "would overwrite",
            (Self::Skip, _) => "skipped (exists and differs; --force overwrites)",
        }
    }
}

#[derive(Debug, Serialize)]
struct PlannedFile {
    path: String,
    action: Action,
}

#[derive(Debug, Serialize)]
struct InitReport {
    dir: String,
    dry_run: bool,
    files: Vec<PlannedFile>,
}

/// Runs `gitops init`.
pub fn run(args: InitArgs, ctx: &Context) -> anyhow::Result<Status> {
    let app = match &args.name {
        Some(name) => name.clone(),
        None => {
            let absolute = std::path::absolute(&args.dir).unwrap_or_else(|_| args.dir.clone());
            app_name_from(
                &absolute
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            )
        }
    };
    let repo_url = args
        .repo_url
        .clone()
        .or_else(|| origin_url(&args.dir))
        .unwrap_or_else(|| format!("https://github.com/ORG/{app}.git"));
    let registry = args
        .registry
        .clone()
        .unwrap_or_else(|| gitops_core::policy::Policy::embedded_default().registry);
    let options = ScaffoldOptions {
        app,
        images: args.images.iter().map(|i| i.trim().to_owned()).collect(),
        registry,
        engine: args.engine.to_lib(),
        repo_url,
        workflow: args.workflow.clone(),
    };
    let files = scaffold(&options)?;

    // Plan first (what exists, what differs), then write.
    let mut planned = Vec::new();
    for file in &files {
        let target = args.dir.join(&file.path);
        if target.is_dir() {
            anyhow::bail!(
                "{} is a folder; move it away to scaffold the file",
                target.display()
            );
        }
        let action = match std::fs::read(&target) {
            Ok(existing) if existing == file.contents.as_bytes() => Action::Unchanged,
            Ok(_) if args.force => Action::Overwrite,
            Ok(_) => Action::Skip,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Action::Create,
            Err(err) => {
                return Err(err).with_context(|| format!("cannot read {}", target.display()));
            }
        };
        planned.push((file, target, action));
    }
    if !args.dry_run {
        for (file, target, action) in &planned {
            if matches!(action, Action::Create | Action::Overwrite) {
                write_atomically(target, file.contents.as_bytes())?;
            }
        }
    }

    let report = InitReport {
        dir: args.dir.display().to_string(),
        dry_run: args.dry_run,
        files: planned
            .iter()
            .map(|(file, _, action)| PlannedFile {
                path: file.path.clone(),
                action: *action,
            })
            .collect(),
    };
    let mut stdout = std::io::stdout().lock();
    if ctx.json() {
        let mut text = serde_json::to_string_pretty(&report)?;
        text.push('\n');
        stdout.write_all(text.as_bytes())?;
    } else {
        for file in &report.files {
            writeln!(
                stdout,
                "{:<11} {}",
                file.action.verb(args.dry_run),
                file.path
            )?;
        }
        let skipped = report
            .files
            .iter()
            .filter(|f| f.action == Action::Skip)
            .count();
        if skipped > 0 {
            writeln!(
                stdout,
                "{skipped} file(s) left as they were; run again with --force to replace them"
            )?;
        } else if report.files.iter().all(|f| f.action == Action::Unchanged) {
            writeln!(stdout, "nothing to do: every file is already as scaffolded")?;
        } else if !args.dry_run {
            writeln!(
                stdout,
                "next: edit gitops.yaml (registry, URLs), check `kubectl kustomize {}/infra/k8s/overlays/dev`, commit and push",
                args.dir.display()
            )?;
        }
    }
    Ok(Status::Success)
}

/// The `origin` remote URL of the repository containing `dir`, if any.
fn origin_url(dir: &Path) -> Option<String> {
    let repo = git2::Repository::discover(dir).ok()?;
    let remote = repo.find_remote("origin").ok()?;
    remote.url().ok().map(without_credentials)
}

/// Drops `user:token@` from an http(s) URL: a credential must never end up in a manifest.
fn without_credentials(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if let Some((_, host)) = authority.rsplit_once('@') {
            return format!("{scheme}://{host}/{path}");
        }
    }
    url.to_owned()
}

/// Writes a file through a temporary file in the same folder (created when missing).
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // Temporary files are private (0600); scaffolded files are ordinary repository files.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("cannot set permissions of {}", path.display()))?;
    }
    file.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
