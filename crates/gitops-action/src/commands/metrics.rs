//! `gitops metrics`: DORA's four keys from the deploy ledger (the GitOps repository's deploy
//! commits), as a table, JSON, Prometheus text or a self-contained HTML report.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use gitops_core::duration::HumanDuration;
use gitops_core::github::{GithubClient, GithubConfig, GithubError};
use gitops_core::ledger::{CommitInfo, parse_commit};
use gitops_core::metrics::{
    DeployEvent, DoraBands, MetricsOptions, compute, render_html, render_prometheus, render_table,
};

use crate::context::{Context, block_on};
use crate::exit::{self, Status};

/// Where deployments are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// Deploy commits in the GitOps repository (rollbacks and hotfixes recognised).
    Ledger,
    /// GitHub deployments and their latest status (failure/error count as failed
    /// deployments; no rollback or hotfix information).
    Github,
}

/// Arguments of `gitops metrics`.
#[derive(Debug, clap::Args)]
pub struct MetricsArgs {
    /// Where deployments are read from.
    #[arg(long, value_enum, default_value_t = Source::Ledger)]
    pub from: Source,
    /// With `--from github`: the repository whose deployments are read.
    #[arg(long, env = "GITHUB_REPOSITORY", value_name = "OWNER/NAME")]
    pub github_repo: Option<String>,
    /// With `--from github`: REST API root (GitHub Enterprise: `https://HOST/api/v3`).
    #[arg(
        long,
        env = "GITHUB_API_URL",
        default_value = "https://api.github.com",
        value_name = "URL"
    )]
    pub github_api_url: String,
    /// Local clone of the GitOps repository holding the deploy commits. Default: the policy's
    /// `gitops.repo` when it is a local path, else the current folder.
    #[arg(long, value_name = "PATH")]
    pub gitops_repo: Option<PathBuf>,
    /// Branch(es) of the GitOps repository to read. Default: every environment's GitOps branch
    /// from the policy (`gitops.branch` unless overridden).
    #[arg(long = "branch", value_name = "BRANCH")]
    pub branches: Vec<String>,
    /// Repository where source commits are looked up for lead time. Default: the GitOps
    /// repository (monorepos); commits not found there give no lead-time sample.
    #[arg(long, value_name = "PATH")]
    pub source_repo: Option<PathBuf>,
    /// Length of the window ending now (`90d`, `12w`, `30d`).
    #[arg(long, default_value = "90d", value_name = "DURATION")]
    pub since: HumanDuration,
    /// End of the window: an RFC 3339 time or a UTC date (`2026-09-30` means its end).
    /// Default: now. Gives reproducible reports, e.g. for a past quarter.
    #[arg(long, value_name = "TIME", value_parser = parse_until)]
    pub until: Option<DateTime<Utc>>,
    /// Only this environment (reported even without deployments).
    #[arg(long = "env", value_name = "NAME")]
    pub environment: Option<String>,
    /// Also write a self-contained HTML report to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Print the Prometheus text exposition format instead of the table.
    #[arg(long)]
    pub prometheus: bool,
    /// DORA report whose bands classify the metrics: 2024 or 2023.
    #[arg(
        long,
        default_value_t = 2024,
        value_name = "YEAR",
        conflicts_with = "bands"
    )]
    pub dora_year: u16,
    /// YAML file with the team's own bands (same keys as `--format json`'s bands; see
    /// docs/metrics.md).
    #[arg(long, value_name = "FILE")]
    pub bands: Option<PathBuf>,
    /// Most commits read per branch (newest first).
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub max_commits: usize,
}

/// Runs `gitops metrics`.
pub fn run(args: MetricsArgs, ctx: &Context) -> anyhow::Result<Status> {
    if args.prometheus && ctx.json() {
        anyhow::bail!("--prometheus and --format json both print to stdout: choose one");
    }
    let policy = ctx.policy()?;
    let bands = match &args.bands {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read bands file {}", path.display()))?;
            DoraBands::from_yaml_str(&text, &path.display().to_string())?
        }
        None => DoraBands::for_year(args.dora_year)?,
    };
    if let Some(env) = &args.environment
        && !policy.environments.contains_key(env)
    {
        eprintln!(
            "note: environment '{env}' is not in the policy ({}); reading the ledger anyway",
            policy
                .environments
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let window = chrono::TimeDelta::try_seconds(args.since.as_seconds())
        .filter(|w| *w <= gitops_core::metrics::max_window())
        .with_context(|| format!("--since {} is longer than 100 years", args.since))?;
    let end = args.until.unwrap_or(ctx.now);
    let start = end.checked_sub_signed(window).unwrap_or(end);
    let events = match args.from {
        Source::Ledger => ledger_events(&args, policy, ctx, start)?,
        Source::Github => github_events(&args, policy, start)?,
    };

    let options = MetricsOptions {
        now: end,
        window,
        environment: args.environment.clone(),
        environment_order: policy.environments.keys().cloned().collect(),
        bands,
    };
    let report = compute(&events, &options);

    if let Some(path) = &args.html {
        write_atomically(path, render_html(&report).as_bytes())?;
        eprintln!("wrote HTML report to {}", path.display());
    }
    let mut stdout = std::io::stdout().lock();
    let text = if ctx.json() {
        let mut text = serde_json::to_string_pretty(&report)?;
        text.push('\n');
        text
    } else if args.prometheus {
        render_prometheus(&report)
    } else {
        render_table(&report)
    };
    stdout
        .write_all(text.as_bytes())
        .context("cannot write to stdout")?;
    Ok(Status::Success)
}

/// Deploy events from the ledger: the GitOps branches' deploy commits.
fn ledger_events(
    args: &MetricsArgs,
    policy: &gitops_core::policy::Policy,
    ctx: &Context,
    start: DateTime<Utc>,
) -> anyhow::Result<Vec<DeployEvent>> {
    let repo_path = args.gitops_repo.clone().unwrap_or_else(|| {
        let configured = Path::new(&policy.gitops.repo);
        if policy.gitops.repo.contains("://") || policy.gitops.repo.starts_with("git@") {
            PathBuf::from(".")
        } else {
            configured.to_path_buf()
        }
    });
    let repo = git2::Repository::open(&repo_path).with_context(|| {
        format!(
            "{} is not a git repository; point --gitops-repo at a local clone of the GitOps repository",
            repo_path.display()
        )
    })?;
    let source_repo = match &args.source_repo {
        Some(path) => Some(git2::Repository::open(path).with_context(|| {
            format!("--source-repo {} is not a git repository", path.display())
        })?),
        None => None,
    };

    let mut branches: Vec<String> = args.branches.clone();
    if branches.is_empty() {
        let mut seen = BTreeSet::new();
        for env in policy.environments.values() {
            let branch = policy.gitops_branch(env).to_owned();
            if seen.insert(branch.clone()) {
                branches.push(branch);
            }
        }
    }
    // Older commits cannot change the window's numbers, except as the first deployment of a
    // source commit redeployed later: 30 days of history before the window cover that.
    let not_before = start - chrono::Duration::days(30);
    let commits = read_commits(&repo, &branches, args.max_commits, not_before)?;
    let lookup = source_repo.as_ref().unwrap_or(&repo);
    let mut events: Vec<DeployEvent> = Vec::new();
    for info in &commits {
        if let Some(entry) = parse_commit(info) {
            let source_time = entry
                .source_commit
                .as_deref()
                .and_then(|sha| commit_time(lookup, sha));
            events.push(DeployEvent::from_ledger(&entry, source_time));
        }
    }
    if ctx.verbose {
        eprintln!(
            "read {} commits on {} of {}: {} ledger entries",
            commits.len(),
            branches.join(", "),
            repo_path.display(),
            events.len()
        );
    }

    Ok(events)
}

/// A repository to look source commits up in: `--source-repo`, else the one holding the
/// current folder (if any).
fn source_lookup(args: &MetricsArgs) -> anyhow::Result<Option<git2::Repository>> {
    match &args.source_repo {
        Some(path) => Ok(Some(git2::Repository::open(path).with_context(|| {
            format!("--source-repo {} is not a git repository", path.display())
        })?)),
        None => Ok(git2::Repository::discover(".").ok()),
    }
}

/// Deploy events from GitHub deployments created in the window, per environment.
fn github_events(
    args: &MetricsArgs,
    policy: &gitops_core::policy::Policy,
    start: DateTime<Utc>,
) -> anyhow::Result<Vec<DeployEvent>> {
    let repository = args.github_repo.clone().context(
        "--from github needs the repository: pass --github-repo OWNER/NAME or set GITHUB_REPOSITORY",
    )?;
    let token = ["GITHUB_TOKEN", "GH_TOKEN"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|t| !t.trim().is_empty()))
        .context("--from github needs a token: set GITHUB_TOKEN (deployments: read)")?;
    crate::github_actions::mask(&token);
    let config = GithubConfig {
        api_url: args.github_api_url.clone(),
        repository,
        token,
        max_attempts: 4,
        max_wait: std::time::Duration::from_secs(60),
    };
    let environments: Vec<String> = match &args.environment {
        Some(env) => vec![env.clone()],
        None => policy.environments.keys().cloned().collect(),
    };
    let api_error = |err: GithubError| match err {
        GithubError::Config { .. } => anyhow::Error::new(err),
        other => exit::external(other),
    };
    let found = block_on(async {
        let client = GithubClient::new(&config)?;
        let mut found = Vec::new();
        for environment in &environments {
            for deployment in client.list_deployments(environment, None).await? {
                let Ok(created) = DateTime::parse_from_rfc3339(&deployment.created_at) else {
                    continue;
                };
                let created = created.with_timezone(&Utc);
                if created < start {
                    continue;
                }
                let state = client.latest_status(deployment.id).await?.map(|s| s.state);
                found.push((environment.clone(), deployment, created, state));
            }
        }
        Ok::<_, GithubError>(found)
    })?
    .map_err(api_error)?;
    let lookup = source_lookup(args)?;
    let mut events = Vec::new();
    for (environment, deployment, time, state) in found {
        // Pending, queued and in-progress deployments have no outcome yet.
        let success = match state.as_deref() {
            Some("success" | "inactive") => true,
            Some("failure" | "error") => false,
            _ => continue,
        };
        let source_commit_time = lookup
            .as_ref()
            .and_then(|repo| commit_time(repo, &deployment.sha));
        events.push(DeployEvent {
            id: format!("github-deployment-{}", deployment.id),
            time,
            environment,
            kind: gitops_core::ledger::DeployKind::Deploy,
            source_commit: (!deployment.sha.is_empty()).then(|| deployment.sha.clone()),
            source_commit_time,
            rollback_of: None,
            success,
        });
    }
    Ok(events)
}

/// `--until`: RFC 3339, or a date meaning the last second of that UTC day.
fn parse_until(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(23, 59, 59))
        .map(|time| time.and_utc())
        .ok_or_else(|| {
            format!("'{text}' is neither an RFC 3339 time (2026-09-30T12:00:00Z) nor a date (2026-09-30)")
        })
}

/// Ledger candidates: the commits of the given branches, newest first, each once, down to
/// `not_before`.
fn read_commits(
    repo: &git2::Repository,
    branches: &[String],
    max_commits: usize,
    not_before: DateTime<Utc>,
) -> anyhow::Result<Vec<CommitInfo>> {
    let mut seen = BTreeSet::new();
    let mut commits = Vec::new();
    let mut found_any = false;
    for branch in branches {
        let Some(tip) = resolve_branch(repo, branch) else {
            eprintln!("note: branch '{branch}' not found in the GitOps repository; skipped");
            continue;
        };
        found_any = true;
        let mut walk = repo.revwalk().map_err(exit::external)?;
        walk.set_sorting(git2::Sort::TIME).map_err(exit::external)?;
        walk.push(tip).map_err(exit::external)?;
        for oid in walk.take(max_commits) {
            let oid = oid.map_err(exit::external)?;
            if !seen.insert(oid) {
                continue;
            }
            let commit = repo.find_commit(oid).map_err(exit::external)?;
            let Some(time) = DateTime::<Utc>::from_timestamp(commit.time().seconds(), 0) else {
                continue;
            };
            // The walk is newest first by commit time: everything after this is older still.
            if time < not_before {
                break;
            }
            let author = commit.author();
            commits.push(CommitInfo {
                commit: oid.to_string(),
                time,
                author: author.name().unwrap_or("unknown").to_owned(),
                message: String::from_utf8_lossy(commit.message_bytes()).into_owned(),
            });
        }
    }
    if !found_any && !branches.is_empty() {
        anyhow::bail!(
            "none of the branches {} exists in the GitOps repository; pass --branch or check gitops.branch in the policy",
            branches.join(", ")
        );
    }
    Ok(commits)
}

/// A branch tip: the local branch, else the `origin` remote-tracking branch.
fn resolve_branch(repo: &git2::Repository, branch: &str) -> Option<git2::Oid> {
    [
        format!("refs/heads/{branch}"),
        format!("refs/remotes/origin/{branch}"),
    ]
    .iter()
    .find_map(|name| repo.refname_to_id(name).ok())
}

/// When a source commit was committed, if that commit exists in the repository.
fn commit_time(repo: &git2::Repository, sha: &str) -> Option<DateTime<Utc>> {
    if sha.len() < 7 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let object = repo.revparse_single(sha).ok()?;
    let commit = object.peel_to_commit().ok()?;
    DateTime::<Utc>::from_timestamp(commit.time().seconds(), 0)
}

/// Writes a file through a temporary file in the same folder, so readers never see half.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // Temporary files are private (0600); a report or manifest should be readable like any file.
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
