//! `gitops plan`: which stages run for an event, the target environment, tags, replicas,
//! approval and gates.
//!
//! The event comes from flags (`--event push --branch dev --sha ...`), else from the GitHub
//! Actions environment (`GITHUB_EVENT_NAME`, `GITHUB_REF`, `$GITHUB_EVENT_PATH`), else from
//! the local checkout (HEAD's branch and commit). [`gather_event`] is shared with
//! `gitops tag` and other commands.

use std::collections::BTreeMap;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use gitops_core::event::{Event, EventFlags, parse_time};
use gitops_core::plan::plan;

use crate::context::{Context, emit};
use crate::exit::Status;
use crate::github_actions;

/// Flags describing an event for local use; without them the event is read from GitHub
/// Actions or the local checkout.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EventArgs {
    /// Event: push, pull_request, pull_request_target, workflow_dispatch or schedule.
    /// Default: push when --branch or --git-tag is given.
    #[arg(long, value_name = "NAME")]
    pub event: Option<String>,
    /// The pushed branch, or a pull request's head branch.
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// A pull request's base (target) branch.
    #[arg(long, value_name = "BRANCH")]
    pub base: Option<String>,
    /// The git tag of a tag push (e.g. v1.2.3).
    #[arg(long = "git-tag", visible_alias = "tag", value_name = "TAG")]
    pub git_tag: Option<String>,
    /// The commit (at least 7 hex characters; 40 is best). Default: the event's, else HEAD.
    #[arg(long, value_name = "SHA")]
    pub sha: Option<String>,
    /// Environment requested by a manual run (workflow_dispatch).
    #[arg(long = "target-env", value_name = "ENV", hide = true)]
    pub target_env: Option<String>,
}

impl EventArgs {
    fn describes_event(&self) -> bool {
        self.event.is_some()
            || self.branch.is_some()
            || self.base.is_some()
            || self.git_tag.is_some()
            || self.target_env.is_some()
    }
}

/// Where an event came from, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOrigin {
    /// Command-line flags.
    Flags,
    /// The GitHub Actions environment.
    Actions,
    /// The local git checkout.
    Checkout,
}

/// Determines the event: flags, else GitHub Actions, else the local checkout.
pub fn gather_event(args: &EventArgs) -> anyhow::Result<(Event, EventOrigin)> {
    if args.describes_event() {
        let sha = match &args.sha {
            Some(sha) => sha.clone(),
            None => {
                local_head()
                    .context("--sha is missing and HEAD of the current directory cannot be read")?
                    .sha
            }
        };
        let event = Event::from_flags(&EventFlags {
            event: args.event.clone(),
            branch: args.branch.clone(),
            base: args.base.clone(),
            tag: args.git_tag.clone(),
            sha: Some(sha),
            time: None,
            environment: args.target_env.clone(),
        })?;
        return Ok((event, EventOrigin::Flags));
    }
    if github_actions::in_actions() && std::env::var_os("GITHUB_EVENT_NAME").is_some() {
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("GITHUB_"))
            .collect();
        let json = match env.get("GITHUB_EVENT_PATH").filter(|p| !p.is_empty()) {
            Some(path) => Some(std::fs::read_to_string(path).with_context(|| {
                format!("cannot read the event JSON at GITHUB_EVENT_PATH={path}")
            })?),
            None => None,
        };
        let mut event = Event::from_github(&env, json.as_deref())?;
        if let Some(sha) = &args.sha {
            event.sha = gitops_core::tag::validate_sha(sha)?;
        }
        return Ok((event, EventOrigin::Actions));
    }
    let head = local_head()?;
    let mut event = Event::from_local(&head)?;
    if let Some(sha) = &args.sha {
        event.sha = gitops_core::tag::validate_sha(sha)?;
    }
    Ok((event, EventOrigin::Checkout))
}

fn local_head() -> anyhow::Result<gitops_core::event::LocalHead> {
    let dir = std::env::current_dir().context("cannot read the current directory")?;
    Ok(gitops_core::event::local::read_head(&dir)?)
}

/// `--time` if given, else `SOURCE_DATE_EPOCH`, else now.
pub fn resolve_time(flag: Option<&str>, ctx: &Context) -> anyhow::Result<DateTime<Utc>> {
    match flag {
        Some(text) => Ok(parse_time(text, "--time")?),
        None => ctx.build_time(),
    }
}

/// Arguments of `gitops plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub event: EventArgs,
    /// When the images enter the environment (RFC 3339), stamped into tags.
    /// Default: SOURCE_DATE_EPOCH, else now.
    #[arg(long, value_name = "RFC3339")]
    pub time: Option<String>,
}

/// Runs `gitops plan`.
pub fn run(args: PlanArgs, ctx: &Context) -> anyhow::Result<Status> {
    let policy = ctx.policy()?;
    let (event, origin) = gather_event(&args.event)?;
    let time = resolve_time(args.time.as_deref(), ctx)?;
    let plan = plan(policy, &event, time, None)?;
    if ctx.verbose {
        eprintln!("event from {origin:?}: {} {}", event.kind, event.sha);
    }
    if ctx.json() {
        emit(&format!("{}\n", serde_json::to_string_pretty(&plan)?))?;
    } else {
        emit(&plan.to_text())?;
    }
    let outputs = plan.outputs();
    github_actions::set_outputs(outputs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    github_actions::append_summary(&plan.to_markdown())?;
    Ok(Status::Success)
}
