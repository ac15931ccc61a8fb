//! The stages of the local pipeline and the runner that executes each as a `gitops` command.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use chrono::{DateTime, TimeDelta, Utc};
use gitops_core::policy::{ImageSpec, Policy};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::PipelineArgs;
use super::build::build_image;
use crate::context::Context;
use crate::exit::Status;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/example_files.rs"));
}

/// Marks a folder as made by `gitops pipeline` (only such folders are ever replaced).
const STATE_FILE: &str = "pipeline-state.json";
const FEATURE_BRANCH: &str = "feature/add-analytics";

/// What a run has done so far; saved while production waits for approval.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    /// `awaiting-approval` or `done`.
    phase: String,
    time: DateTime<Utc>,
    registry: String,
    overlay_registry: String,
    gitops_remote: String,
    /// Image name -> digest of the build promoted through the environments.
    digests: BTreeMap<String, String>,
    /// The release commit on `main` and its tree.
    release_commit: String,
    tree: String,
    /// Deploy and rollback commits, in order: (environment, commit, kind).
    commits: Vec<(String, String, String)>,
}

/// Prints progress for a person (stdout) or, with `--format json`, on stderr.
struct Reporter {
    json: bool,
}

impl Reporter {
    fn line(&self, text: impl AsRef<str>) {
        if self.json {
            eprintln!("{}", text.as_ref());
        } else {
            println!("{}", text.as_ref());
        }
    }

    fn stage(&self, number: u32, title: &str) {
        self.line(format!("\n==> [{number}/8] {title}"));
    }
}

/// Runs `gitops` subcommands as child processes, printing each command line first.
struct Runner<'a> {
    exe: PathBuf,
    app: PathBuf,
    workdir: PathBuf,
    policy: PathBuf,
    insecure: Vec<String>,
    /// The time the children take as "now" for tags (`SOURCE_DATE_EPOCH`).
    epoch: std::cell::Cell<i64>,
    /// `--time` given: the children's clock too (retention ages tags from it).
    now: Option<DateTime<Utc>>,
    out: &'a Reporter,
}

impl Runner<'_> {
    /// Shows a path relative to the working folder when it is inside it.
    fn show(&self, arg: &str) -> String {
        let wd = self.workdir.display().to_string();
        let shown = arg.replace(&format!("{wd}/"), "").replace(&wd, ".");
        if shown.contains(' ') {
            format!("'{shown}'")
        } else {
            shown
        }
    }

    /// Runs `gitops ARGS --format json` in the app checkout and parses its stdout.
    fn json(&self, args: &[String]) -> anyhow::Result<Value> {
        let shown: Vec<String> = args.iter().map(|a| self.show(a)).collect();
        self.out.line(format!("    $ gitops {}", shown.join(" ")));
        let mut command = Command::new(&self.exe);
        command
            .args(args)
            .args(["--format", "json", "--policy"])
            .arg(&self.policy)
            .current_dir(&self.app);
        if args
            .first()
            .is_some_and(|a| ["push", "promote", "retention", "image"].contains(&a.as_str()))
        {
            for host in &self.insecure {
                command.args(["--insecure-registry", host]);
            }
        }
        // The children must not read a CI runner's event or write its outputs: the pipeline
        // passes every input explicitly.
        for (key, _) in std::env::vars_os() {
            let key_text = key.to_string_lossy();
            if key_text.starts_with("GITHUB_")
                || key_text.starts_with("GITOPS_")
                || key_text == "SOURCE_DATE_EPOCH"
            {
                command.env_remove(&key);
            }
        }
        command.env("SOURCE_DATE_EPOCH", self.epoch.get().to_string());
        if let Some(now) = self.now {
            command.env("GITOPS_NOW", now.to_rfc3339());
        }
        let output = command
            .output()
            .with_context(|| format!("cannot run {}", self.exe.display()))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "`gitops {}` failed ({}):\n{}{}",
                shown.join(" "),
                output.status,
                stderr.trim_end(),
                if stdout.trim().is_empty() {
                    String::new()
                } else {
                    format!("\n{}", stdout.trim_end())
                }
            );
        }
        serde_json::from_str(&stdout).with_context(|| {
            format!(
                "`gitops {}` printed no JSON document:\n{stdout}",
                shown.join(" ")
            )
        })
    }
}

fn git(dir: &Path, args: &[&str], time: DateTime<Utc>) -> anyhow::Result<String> {
    let date = time.to_rfc3339();
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=Dev Eloper",
            "-c",
            "user.email=dev@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "core.hooksPath=/dev/null",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .context("cannot run git: the local pipeline needs git on PATH")?;
    if !output.status.success() {
        bail!(
            "git {} failed in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn field<'v>(value: &'v Value, path: &[&str]) -> anyhow::Result<&'v Value> {
    let mut current = value;
    for key in path {
        current = current
            .get(*key)
            .with_context(|| format!("missing `{}` in {value}", path.join(".")))?;
    }
    Ok(current)
}

fn text(value: &Value, path: &[&str]) -> anyhow::Result<String> {
    field(value, path)?
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("`{}` is not a string", path.join(".")))
}

fn strings(value: &Value, path: &[&str]) -> anyhow::Result<Vec<String>> {
    Ok(field(value, path)?
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default())
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

/// Prepares the working folder: refuses anything not made by a previous run.
fn prepare_workdir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let is_ours = dir.join(STATE_FILE).is_file();
        let is_empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !is_ours && !is_empty {
            bail!(
                "refusing to use {}: it exists and was not made by `gitops pipeline`; pass --workdir with a new folder",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

fn save_state(dir: &Path, state: &State) -> anyhow::Result<()> {
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(state)?)?;
    std::fs::rename(&tmp, dir.join(STATE_FILE))?;
    Ok(())
}

/// Writes the bundled example into `app`, with the policy's registry pointed at `registry`.
fn write_example(app: &Path) -> anyhow::Result<()> {
    if embedded::EXAMPLE_FILES.is_empty() {
        bail!(
            "this gitops binary was built without the bundled example (examples/ai-incident-assistant)"
        );
    }
    for (rel, bytes) in embedded::EXAMPLE_FILES {
        let path = app.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Runs the pipeline (or resumes it at the production approval).
pub fn run(args: &PipelineArgs, ctx: &Context) -> anyhow::Result<Status> {
    let out = Reporter { json: ctx.json() };
    let workdir = if args.workdir.is_absolute() {
        args.workdir.clone()
    } else {
        std::env::current_dir()?.join(&args.workdir)
    };
    let saved: Option<State> = std::fs::read(workdir.join(STATE_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let resume = args.approve
        && saved
            .as_ref()
            .is_some_and(|s| s.phase == "awaiting-approval");
    let time = match &args.time {
        Some(t) => gitops_core::event::parse_time(t, "--time")?,
        // The simulated day (merges, promotions, the rollback) spans three hours; it ends now,
        // so that no tag carries a time in the future.
        None => ctx.now - TimeDelta::hours(3),
    };
    let app = workdir.join("app");
    let exe = std::env::current_exe().context("cannot find the running gitops binary")?;
    let runner = Runner {
        exe,
        app: app.clone(),
        workdir: workdir.clone(),
        policy: app.join("gitops.yaml"),
        insecure: args.insecure_registry.clone(),
        epoch: std::cell::Cell::new(time.timestamp()),
        now: args.time.as_ref().map(|_| time + TimeDelta::hours(3)),
        out: &out,
    };

    let mut state = if resume {
        let state = saved.unwrap_or_default();
        out.line(format!(
            "Resuming the pipeline in {} at the production approval.",
            workdir.display()
        ));
        state
    } else {
        prepare_workdir(&workdir)?;
        write_example(&app)?;
        let policy = Policy::from_yaml_str(
            &std::fs::read_to_string(app.join("gitops.yaml"))?,
            "gitops.yaml",
        )?;
        let overlay_registry = args
            .registry
            .clone()
            .unwrap_or_else(|| policy.registry.clone());
        let registry = args
            .registry
            .clone()
            .unwrap_or_else(|| format!("oci:{}", workdir.join("registry").display()));
        let gitops_remote = args
            .gitops_repo
            .clone()
            .unwrap_or_else(|| workdir.join("gitops.git").display().to_string());
        State {
            phase: "started".into(),
            time,
            registry,
            overlay_registry,
            gitops_remote,
            ..State::default()
        }
    };
    let policy = Policy::from_yaml_str(
        &std::fs::read_to_string(app.join("gitops.yaml"))?,
        "gitops.yaml",
    )?;
    let images: Vec<String> = policy.images.iter().map(|i| i.name.clone()).collect();
    let registry_root = state.registry.trim_end_matches('/').to_owned();
    let repo = move |name: &str| format!("{registry_root}/{name}");

    if !resume {
        out.line(format!(
            "Local pipeline for the bundled example in {}\n  registry: {}{}\n  GitOps remote: {}",
            workdir.display(),
            state.registry,
            if args.registry.is_none() {
                format!(
                    " (an OCI image layout standing in for {})",
                    state.overlay_registry
                )
            } else {
                String::new()
            },
            state.gitops_remote
        ));
        setup_repositories(&app, &workdir, &state, args.gitops_repo.is_none())?;
        seed_old_builds(&runner, &app, &workdir, &images, &repo, time)?;
        pr_checks(&runner, &app, time)?;
        let (commit, tree) =
            build_and_deploy_dev(&runner, &app, &workdir, &policy, &mut state, &repo, time)?;
        promote_and_deploy(
            &runner,
            &app,
            "staging",
            "staging",
            "dev",
            &images,
            &repo,
            &mut state,
            time + TimeDelta::minutes(20),
        )?;
        let main_commit = merge(&app, "main", "staging", time + TimeDelta::minutes(40))?;
        let plan = runner.json(&plan_args(
            "main",
            &main_commit,
            time + TimeDelta::minutes(40),
        ))?;
        out.stage(5, "production: approval");
        let approval = field(&plan, &["approval_required"])
            .ok()
            .and_then(Value::as_bool)
            .unwrap_or(true);
        out.line(format!(
            "    plan: environment production, approval required: {approval} (commit {})",
            &commit[..7]
        ));
        state.release_commit = main_commit;
        state.tree = tree;
        if !args.approve {
            state.phase = "awaiting-approval".into();
            save_state(&workdir, &state)?;
            out.line("    waiting for approval: production needs a reviewer (GitHub environment `production`).");
            out.line(format!(
                "    approve and resume with: gitops pipeline --approve --workdir {}",
                args.workdir.display()
            ));
            return summary(&runner, &out, &state, &images, None, ctx);
        }
    }
    out.line("    approved.");
    promote_and_deploy_production(&runner, &app, &images, &repo, &mut state)?;
    rollback_stage(&runner, &app, &workdir, &policy, &mut state, &repo)?;
    let retention = retention_stage(&runner, &workdir, &images, &repo, &state)?;
    state.phase = "done".into();
    save_state(&workdir, &state)?;
    summary(&runner, &out, &state, &images, Some(retention), ctx)
}

fn plan_args(branch: &str, sha: &str, time: DateTime<Utc>) -> Vec<String> {
    [
        "plan",
        "--event",
        "push",
        "--branch",
        branch,
        "--sha",
        sha,
        "--time",
        &time.to_rfc3339(),
    ]
    .map(str::to_owned)
    .to_vec()
}

fn merge(app: &Path, into: &str, from: &str, time: DateTime<Utc>) -> anyhow::Result<String> {
    git(app, &["checkout", "-q", into], time)?;
    git(
        app,
        &[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            &format!("Merge branch '{from}' into {into}"),
            from,
        ],
        time,
    )?;
    git(app, &["rev-parse", "HEAD"], time)
}

/// The app repository with `main`, `staging`, `dev`, and the GitOps remote holding the overlays.
fn setup_repositories(
    app: &Path,
    workdir: &Path,
    state: &State,
    create_remote: bool,
) -> anyhow::Result<()> {
    let start = state.time - TimeDelta::days(30);
    git(app, &["init", "-q", "-b", "main"], start)?;
    git(app, &["add", "-A"], start)?;
    git(
        app,
        &[
            "commit",
            "-q",
            "-m",
            "chore: import the AI incident assistant",
        ],
        start,
    )?;
    git(app, &["branch", "staging"], start)?;
    git(app, &["branch", "dev"], start)?;
    if create_remote {
        let remote = workdir.join("gitops.git");
        git(
            workdir,
            &[
                "init",
                "-q",
                "--bare",
                "-b",
                "main",
                &remote.display().to_string(),
            ],
            start,
        )?;
        git(
            app,
            &["push", "-q", &remote.display().to_string(), "main"],
            start,
        )?;
    }
    Ok(())
}

/// Images from an earlier sprint, so that retention has something to explain.
fn seed_old_builds(
    runner: &Runner<'_>,
    app: &Path,
    workdir: &Path,
    images: &[String],
    repo: &dyn Fn(&str) -> String,
    time: DateTime<Utc>,
) -> anyhow::Result<()> {
    runner.out.line(
        "\n==> setup: images from earlier sprints are in the registry (for retention to judge)",
    );
    for (days, prefix) in [
        (25_i64, "dev"),
        (20, "dev"),
        (15, "dev"),
        (10, "dev"),
        (3, "dev"),
        (45, "staging"),
        (40, "staging"),
    ] {
        let when = time - TimeDelta::days(days);
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(format!(
            "sprint-{days}"
        )))[..40]
            .to_owned();
        for name in images {
            let labels =
                BTreeMap::from([("org.opencontainers.image.revision".to_owned(), sha.clone())]);
            let layout = workdir.join("build").join(format!("old-{days}-{name}"));
            build_image(&app.join(name), &layout, "build", &labels, when)?;
            let tag = format!(
                "{prefix}-{}-{}",
                &sha[..7],
                when.format(gitops_core::tag::TIMESTAMP_FORMAT)
            );
            runner.json(&[
                "push".into(),
                layout.display().to_string(),
                "--image".into(),
                repo(name),
                "--tag".into(),
                tag,
                "--no-annotations".into(),
            ])?;
        }
    }
    Ok(())
}

fn pr_checks(runner: &Runner<'_>, app: &Path, time: DateTime<Utc>) -> anyhow::Result<()> {
    runner.out.stage(
        1,
        "pull request: feature/add-analytics -> dev (fast checks, no build)",
    );
    let t = time - TimeDelta::hours(2);
    git(app, &["checkout", "-q", "-b", FEATURE_BRANCH, "dev"], t)?;
    let page = app.join("frontend/index.html");
    let html = std::fs::read_to_string(&page)?.replace(
        "</body>",
        "  <footer id=\"analytics\">analytics dashboard</footer>\n</body>",
    );
    std::fs::write(&page, html)?;
    git(
        app,
        &["commit", "-q", "-am", "feat: add analytics dashboard"],
        t,
    )?;
    let head = git(app, &["rev-parse", "HEAD"], t)?;
    let plan = runner.json(
        &[
            "plan",
            "--event",
            "pull_request",
            "--branch",
            FEATURE_BRANCH,
            "--base",
            "dev",
            "--sha",
            &head,
            "--time",
            &t.to_rfc3339(),
        ]
        .map(str::to_owned),
    )?;
    runner
        .out
        .line(format!("    runs: {}", running_stages(&plan).join(", ")));
    runner.out.line(
        "    skipped: build, image scan, push, deploy (pull requests get fast feedback only)",
    );
    Ok(())
}

fn running_stages(plan: &Value) -> Vec<String> {
    plan.get("stages")
        .and_then(Value::as_object)
        .map(|stages| {
            stages
                .iter()
                .filter(|(_, on)| on.as_bool() == Some(true))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// A commit on a branch of the app repository, and what the dev stage builds from it.
struct Source<'a> {
    commit: &'a str,
    tree: &'a str,
    time: DateTime<Utc>,
}

/// The development tag for a commit, from `gitops tag` (the same call CI makes).
fn dev_version(runner: &Runner<'_>, source: &Source<'_>, repo: &str) -> anyhow::Result<String> {
    let time = source.time.to_rfc3339();
    let args = [
        "tag",
        "--env",
        "development",
        "--sha",
        source.commit,
        "--time",
        &time,
        "--image",
        repo,
    ];
    text(&runner.json(&args.map(str::to_owned))?, &["version"])
}

/// Builds one image from its context, pushes it with its development tags (annotated with
/// the source commit and tree) and returns the `name=REF@digest` argument for `gitops deploy`.
#[allow(clippy::too_many_arguments)]
fn build_and_push(
    runner: &Runner<'_>,
    app: &Path,
    layout: &Path,
    image: &ImageSpec,
    source: &Source<'_>,
    version: &str,
    state: &State,
    repo: &dyn Fn(&str) -> String,
) -> anyhow::Result<(String, String)> {
    let context = image.context.clone().unwrap_or_else(|| ".".into());
    let labels = BTreeMap::from([
        (
            "org.opencontainers.image.revision".to_owned(),
            source.commit.to_owned(),
        ),
        (
            "org.opencontainers.image.created".to_owned(),
            source.time.to_rfc3339(),
        ),
        (
            "org.opencontainers.image.title".to_owned(),
            image.name.clone(),
        ),
        ("dev.gitops.tree".to_owned(), source.tree.to_owned()),
    ]);
    let built = build_image(&app.join(&context), layout, "build", &labels, source.time)?;
    runner.out.line(format!(
        "    built {} from {context}/: {} ({} bytes)",
        image.name,
        short(&built.digest),
        built.size
    ));
    let pushed = runner.json(&[
        "push".into(),
        built.layout.display().to_string(),
        "--image".into(),
        repo(&image.name),
        "--tag".into(),
        version.to_owned(),
        "--tag".into(),
        "dev-latest".into(),
        "--revision".into(),
        source.commit.to_owned(),
        "--tree".into(),
        source.tree.to_owned(),
    ])?;
    let digest = text(&pushed, &["digest"])?;
    let reference = format!(
        "{}={}/{}:{version}@{digest}",
        image.name, state.overlay_registry, image.name
    );
    Ok((digest, reference))
}

/// Runs `gitops deploy` for `images` (`name=REF` arguments) and records the commit.
fn deploy(
    runner: &Runner<'_>,
    state: &mut State,
    env: &str,
    images: &[String],
    source_commit: &str,
) -> anyhow::Result<()> {
    let mut args = vec!["deploy".to_owned(), "--env".into(), env.into()];
    for image in images {
        args.extend(["--image".to_owned(), image.clone()]);
    }
    args.extend([
        "--gitops-repo".into(),
        state.gitops_remote.clone(),
        "--source-commit".into(),
        source_commit.into(),
    ]);
    let result = runner.json(&args)?;
    record_deploy(runner, &result, env, state)
}

fn build_and_deploy_dev(
    runner: &Runner<'_>,
    app: &Path,
    workdir: &Path,
    policy: &Policy,
    state: &mut State,
    repo: &dyn Fn(&str) -> String,
    time: DateTime<Utc>,
) -> anyhow::Result<(String, String)> {
    runner.out.stage(2, "merge to dev: build once, tag, push");
    let commit = merge(app, "dev", FEATURE_BRANCH, time)?;
    let tree = git(app, &["rev-parse", "HEAD^{tree}"], time)?;
    let plan = runner.json(&plan_args("dev", &commit, time))?;
    runner
        .out
        .line(format!("    runs: {}", running_stages(&plan).join(", ")));
    let source = Source {
        commit: &commit,
        tree: &tree,
        time,
    };
    let first = policy
        .images
        .first()
        .context("the example declares no image")?;
    let version = dev_version(runner, &source, &repo(&first.name))?;
    let mut references = Vec::new();
    for image in &policy.images {
        let layout = workdir.join("build").join(&image.name);
        let (digest, reference) =
            build_and_push(runner, app, &layout, image, &source, &version, state, repo)?;
        state.digests.insert(image.name.clone(), digest);
        references.push(reference);
    }
    runner.out.stage(3, "deploy development");
    deploy(runner, state, "development", &references, &commit)?;
    Ok((commit, tree))
}

fn record_deploy(
    runner: &Runner<'_>,
    result: &Value,
    env: &str,
    state: &mut State,
) -> anyhow::Result<()> {
    let commit = field(result, &["commit"])?
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let kind = text(result, &["kind"]).unwrap_or_else(|_| "deploy".into());
    runner.out.line(format!(
        "    {kind} {env}: commit {} ({} file(s) changed)",
        commit.get(..12).unwrap_or(&commit),
        strings(result, &["changed_files"])?.len()
    ));
    state.commits.push((env.to_owned(), commit, kind));
    Ok(())
}

/// Merges `from_branch` into `branch`, promotes the tested digest by tree, and deploys `env`.
#[allow(clippy::too_many_arguments)]
fn promote_and_deploy(
    runner: &Runner<'_>,
    app: &Path,
    env: &str,
    branch: &str,
    from_branch: &str,
    images: &[String],
    repo: &dyn Fn(&str) -> String,
    state: &mut State,
    time: DateTime<Utc>,
) -> anyhow::Result<()> {
    runner.out.stage(
        4,
        &format!("merge {from_branch} -> {branch}: promote the tested digest, deploy {env}"),
    );
    let commit = merge(app, branch, from_branch, time)?;
    let tree = git(app, &["rev-parse", "HEAD^{tree}"], time)?;
    let plan = runner.json(&plan_args(branch, &commit, time))?;
    runner
        .out
        .line(format!("    runs: {}", running_stages(&plan).join(", ")));
    deploy_promoted(runner, env, &commit, &tree, images, repo, state, time)
}

#[allow(clippy::too_many_arguments)]
fn deploy_promoted(
    runner: &Runner<'_>,
    env: &str,
    commit: &str,
    tree: &str,
    images: &[String],
    repo: &dyn Fn(&str) -> String,
    state: &mut State,
    time: DateTime<Utc>,
) -> anyhow::Result<()> {
    runner.epoch.set(time.timestamp());
    let mut references = Vec::new();
    for name in images {
        let promoted = runner.json(&[
            "promote".into(),
            "--to-env".into(),
            env.into(),
            "--image".into(),
            repo(name),
            "--tree".into(),
            tree.into(),
            "--sha".into(),
            commit.into(),
        ])?;
        let digest = text(&promoted, &["digest"])?;
        let written = strings(&promoted, &["tags_written"])?;
        let bytes = field(&promoted, &["bytes_transferred"])
            .ok()
            .and_then(Value::as_u64)
            .unwrap_or(0);
        runner.out.line(format!(
            "    promoted {name} {} -> {} ({} requests, {bytes} bytes of manifests and index, no layer copied, no rebuild)",
            short(&digest),
            written.join(", "),
            field(&promoted, &["requests"])
                .ok()
                .and_then(Value::as_u64)
                .unwrap_or(0)
        ));
        if state.digests.get(name) != Some(&digest) {
            bail!(
                "promotion of {name} to {env} picked {digest}, not the tested digest {:?}",
                state.digests.get(name)
            );
        }
        let version = written
            .iter()
            .find(|t| !t.ends_with("-latest"))
            .cloned()
            .unwrap_or_else(|| written.join(""));
        references.push(format!(
            "{name}={}/{name}:{version}@{digest}",
            state.overlay_registry
        ));
    }
    deploy(runner, state, env, &references, commit)
}

fn promote_and_deploy_production(
    runner: &Runner<'_>,
    app: &Path,
    images: &[String],
    repo: &dyn Fn(&str) -> String,
    state: &mut State,
) -> anyhow::Result<()> {
    runner
        .out
        .stage(6, "deploy production (approved): promote the same digest");
    let (commit, tree, time) = (
        state.release_commit.clone(),
        state.tree.clone(),
        state.time + TimeDelta::hours(1),
    );
    git(app, &["checkout", "-q", "main"], time)?;
    deploy_promoted(
        runner,
        "production",
        &commit,
        &tree,
        images,
        repo,
        state,
        time,
    )
}

fn rollback_stage(
    runner: &Runner<'_>,
    app: &Path,
    workdir: &Path,
    policy: &Policy,
    state: &mut State,
    repo: &dyn Fn(&str) -> String,
) -> anyhow::Result<()> {
    runner
        .out
        .stage(7, "a bad change reaches development, and is rolled back");
    let time = state.time + TimeDelta::hours(2);
    git(app, &["checkout", "-q", "dev"], time)?;
    let code_path = app.join("backend/app.py");
    let code = std::fs::read_to_string(&code_path)?
        .replace("text[:200]", "text[:0]  # bug: drops the question");
    std::fs::write(&code_path, code)?;
    git(app, &["commit", "-q", "-am", "perf: shorter answers"], time)?;
    let commit = git(app, &["rev-parse", "HEAD"], time)?;
    let tree = git(app, &["rev-parse", "HEAD^{tree}"], time)?;
    let image = policy
        .images
        .iter()
        .find(|i| i.name == "backend")
        .or(policy.images.first())
        .context("the example declares no image")?;
    let source = Source {
        commit: &commit,
        tree: &tree,
        time,
    };
    let version = dev_version(runner, &source, &repo(&image.name))?;
    let layout = workdir.join("build").join("bad");
    let (_, reference) =
        build_and_push(runner, app, &layout, image, &source, &version, state, repo)?;
    deploy(runner, state, "development", &[reference], &commit)?;
    runner
        .out
        .line("    health check fails on development: rolling back");
    let rolled = runner.json(&[
        "rollback".into(),
        "--env".into(),
        "development".into(),
        "--gitops-repo".into(),
        state.gitops_remote.clone(),
    ])?;
    record_deploy(runner, &rolled, "development", state)
}

fn retention_stage(
    runner: &Runner<'_>,
    workdir: &Path,
    images: &[String],
    repo: &dyn Fn(&str) -> String,
    state: &State,
) -> anyhow::Result<Value> {
    runner.out.stage(
        8,
        "retention (dry run): what clean-up would delete, and why",
    );
    let view = workdir.join("gitops-view");
    if view.exists() {
        std::fs::remove_dir_all(&view)?;
    }
    git(
        workdir,
        &[
            "clone",
            "-q",
            &state.gitops_remote,
            &view.display().to_string(),
        ],
        state.time,
    )?;
    let mut reports = serde_json::Map::new();
    for name in images {
        let report = runner.json(&[
            "retention".into(),
            "plan".into(),
            "--image".into(),
            repo(name),
            "--gitops-repo".into(),
            view.display().to_string(),
        ])?;
        let (keep, delete) = count_decisions(&report);
        runner
            .out
            .line(format!("    {name}: keep {keep} tag(s), delete {delete}"));
        for (tag, action, reason) in decisions(&report) {
            runner
                .out
                .line(format!("      {action:<6} {tag:<36} {reason}"));
        }
        reports.insert(name.clone(), report);
    }
    Ok(Value::Object(reports))
}

/// (tag, action, reason) for every tag in a retention plan.
fn decisions(report: &Value) -> Vec<(String, String, String)> {
    let tags = report
        .pointer("/plan/tags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    tags.iter()
        .map(|t| {
            let get = |k: &str| {
                t.get(k)
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .unwrap_or_default()
            };
            (get("tag"), get("action"), get("reason"))
        })
        .collect()
}

fn count_decisions(report: &Value) -> (usize, usize) {
    let all = decisions(report);
    let delete = all
        .iter()
        .filter(|(_, action, _)| action == "delete")
        .count();
    (all.len() - delete, delete)
}

/// Reads each environment's overlay on the GitOps remote and checks the digests.
fn deployed_digests(
    state: &State,
    workdir: &Path,
    images: &[String],
) -> anyhow::Result<Vec<(String, BTreeMap<String, String>)>> {
    let policy_text = std::fs::read_to_string(workdir.join("app/gitops.yaml"))?;
    let policy = Policy::from_yaml_str(&policy_text, "gitops.yaml")?;
    let mut result = Vec::new();
    for (env_name, env) in &policy.environments {
        let path = format!(
            "main:{}/kustomization.yaml",
            env.overlay.trim_end_matches('/')
        );
        let text = git(
            workdir,
            &["--git-dir", &state.gitops_remote, "show", &path],
            state.time,
        )
        .unwrap_or_default();
        let entries = gitops_core::kustomize::read_images(&text).unwrap_or_default();
        let digests = images
            .iter()
            .map(|name| {
                let digest = entries
                    .iter()
                    .find(|e| &e.name == name)
                    .and_then(|e| e.digest.clone())
                    .unwrap_or_else(|| "-".into());
                (name.clone(), digest)
            })
            .collect();
        result.push((env_name.clone(), digests));
    }
    Ok(result)
}

fn summary(
    runner: &Runner<'_>,
    out: &Reporter,
    state: &State,
    images: &[String],
    retention: Option<Value>,
    ctx: &Context,
) -> anyhow::Result<Status> {
    let workdir = &runner.workdir;
    let local_remote = Path::new(&state.gitops_remote).exists();
    let deployed = if local_remote {
        deployed_digests(state, workdir, images)?
    } else {
        Vec::new()
    };
    let production_done = state.phase != "awaiting-approval";
    let identical = images.iter().all(|name| {
        let expected = state.digests.get(name);
        deployed.iter().all(|(_, env)| env.get(name) == expected)
    }) && production_done
        && !deployed.is_empty();
    let (mut kept, mut deleted) = (0, 0);
    if let Some(Value::Object(reports)) = &retention {
        for report in reports.values() {
            let (k, d) = count_decisions(report);
            kept += k;
            deleted += d;
        }
    }
    if ctx.json() {
        let doc = serde_json::json!({
            "workdir": workdir,
            "registry": state.registry,
            "gitops_repo": state.gitops_remote,
            "production": if production_done { "deployed" } else { "awaiting-approval" },
            "tested_digests": state.digests,
            "environments": deployed.iter().map(|(env, d)| (env.clone(), serde_json::json!(d))).collect::<serde_json::Map<String, Value>>(),
            "digest_identical_in_all_environments": identical,
            "commits": state.commits.iter().map(|(env, commit, kind)| serde_json::json!({"environment": env, "commit": commit, "kind": kind})).collect::<Vec<_>>(),
            "retention": retention.as_ref().map(|_| serde_json::json!({"kept": kept, "deleted": deleted, "reports": retention})),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(Status::Success);
    }
    out.line("\n==> summary");
    for (env, digests) in &deployed {
        let shown: Vec<String> = digests
            .iter()
            .map(|(name, d)| format!("{name} {}", short(d)))
            .collect();
        out.line(format!("    {env:<12} {}", shown.join("  ")));
    }
    if production_done {
        out.line(format!(
            "    {} the digest is identical in all three environments (built once, promoted twice)",
            if identical { "ok:" } else { "MISMATCH:" }
        ));
    } else {
        out.line("    production: waiting for approval (run with --approve)");
    }
    out.line(format!("    GitOps commits: {}", state.commits.len()));
    for (env, commit, kind) in &state.commits {
        out.line(format!(
            "      {} {kind:<8} {env}",
            commit.get(..12).unwrap_or(commit)
        ));
    }
    if retention.is_some() {
        out.line(format!(
            "    retention (dry run): {kept} tag(s) kept, {deleted} would be deleted"
        ));
    }
    if !identical && production_done {
        bail!("the environments do not run the tested digest: see the summary above");
    }
    Ok(Status::Success)
}
