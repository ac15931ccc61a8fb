//! The plan of a pipeline run: for an event under a policy at a given time, which stages
//! run, which environment is targeted, which tags are produced, and which gates apply.
//!
//! Flows (the architecture's branch strategy):
//!
//! | event | flow | stages |
//! |---|---|---|
//! | pull request (any base) | `pull_request` | PR checks only (secret scan, lint/test, quality) |
//! | push to a branch an environment deploys from | `deploy` | PR checks, build, image scan, push, deploy, the environment's tests, approval when required |
//! | push to another branch (`feature/*`, `hotfix/*`) | `checks_only` | PR checks only |
//! | push of a git tag | `release` | PR checks, build, image scan, push (semver tags when enabled); no deploy |
//! | workflow_dispatch | as a push of its ref (or the `environment` input) | |
//! | schedule | `scheduled` | secret scan and image scan (re-scan deployed images) |
//! | push deleting a branch | `none` | nothing |
//!
//! The JSON form of [`Plan`] is stable: field names only ever get added. Every stage is a
//! boolean under `stages`, so workflow `if:` conditions can read
//! `fromJSON(steps.plan.outputs.plan).stages.deploy`.
//!
//! "Build once, deploy many": when the registry already holds a content-identical image in
//! the promotion source environment, the caller passes it as [`PromotableImage`] and the plan
//! promotes it (`build: false`, `promotion.source_refs`) instead of rebuilding.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{Event, EventKind};
use crate::policy::{Environment, Policy, Severity, Strategy};
use crate::tag::{TagError, TagInput, TagScheme, is_valid_tag, semver_tags};

/// Which part of the branch strategy an event falls into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// A pull request: fast feedback, no build.
    PullRequest,
    /// A push (or dispatch) that builds and deploys to an environment.
    Deploy,
    /// A push to a branch no environment deploys from: checks only.
    ChecksOnly,
    /// A git tag push: build and push release tags, no deploy.
    Release,
    /// A scheduled run: re-scan for secrets and vulnerabilities.
    Scheduled,
    /// Nothing to do (a deleted branch or tag).
    None,
}

/// One boolean per stage, in pipeline order.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Stages {
    /// Secret scanning (gitleaks).
    pub secret_scan: bool,
    /// Lint and unit tests.
    pub lint_test: bool,
    /// Code quality (SonarQube).
    pub quality: bool,
    /// Build the images.
    pub build: bool,
    /// Scan the images (Trivy).
    pub image_scan: bool,
    /// Push (or promote) the images with their tags.
    pub push: bool,
    /// Write the images into the environment's overlay (GitOps commit).
    pub deploy: bool,
    /// Integration tests against the environment.
    pub integration_tests: bool,
    /// End-to-end tests against the environment.
    pub e2e_tests: bool,
    /// Wait for a manual approval before deploying.
    pub approval: bool,
}

impl Stages {
    /// `(name, runs)` for every stage, in pipeline order.
    pub fn iter(&self) -> [(&'static str, bool); 10] {
        [
            ("secret_scan", self.secret_scan),
            ("lint_test", self.lint_test),
            ("quality", self.quality),
            ("build", self.build),
            ("image_scan", self.image_scan),
            ("push", self.push),
            ("deploy", self.deploy),
            ("integration_tests", self.integration_tests),
            ("e2e_tests", self.e2e_tests),
            ("approval", self.approval),
        ]
    }

    /// The names of the stages that run.
    pub fn running(&self) -> Vec<&'static str> {
        self.iter()
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(n, _)| n)
            .collect()
    }
}

/// The gates that apply to this run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GatePlan {
    /// Coverage must be strictly greater than this percentage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage_min_percent: Option<f64>,
    /// Vulnerabilities at or above this severity fail the build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vulnerabilities_fail_on: Option<Severity>,
    /// The SonarQube quality gate must pass.
    pub sonarqube: bool,
    /// No secret may be found.
    pub secrets: bool,
    /// Integration tests must pass.
    pub integration_tests: bool,
    /// End-to-end tests must pass.
    pub e2e_tests: bool,
}

impl GatePlan {
    /// Names of the gates that apply, for summaries.
    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.secrets {
            out.push("secrets".to_owned());
        }
        if let Some(min) = self.coverage_min_percent {
            out.push(format!("coverage > {min}%"));
        }
        if self.sonarqube {
            out.push("sonarqube".to_owned());
        }
        if let Some(sev) = self.vulnerabilities_fail_on {
            out.push(format!("no {} vulnerabilities", severity_label(sev)));
        }
        if self.integration_tests {
            out.push("integration tests".to_owned());
        }
        if self.e2e_tests {
            out.push("e2e tests".to_owned());
        }
        out
    }
}

fn severity_label(sev: Severity) -> String {
    let name = match sev {
        Severity::Unknown => "UNKNOWN",
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    };
    if sev == Severity::Critical {
        name.to_owned()
    } else {
        format!("{name}+")
    }
}

/// One image of the plan with the full references to push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlannedImage {
    /// Image name (`backend`).
    pub name: String,
    /// Repository (`registry.example.com/app/backend`).
    pub repository: String,
    /// Full references, immutable tag first (`<repository>:<tag>`).
    pub references: Vec<String>,
}

/// An image that already exists in the promotion source environment with the same content
/// (found by the registry adapter); passing it makes the plan promote instead of build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PromotableImage {
    /// Environment the image was tested in.
    pub environment: String,
    /// Per image name, the source reference to copy (ideally pinned by digest).
    pub source_refs: BTreeMap<String, String>,
}

/// How the images reach the target environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Promotion {
    /// The environment images are promoted from (policy order or `promote_from`).
    pub from_environment: String,
    /// Source references to retag when an identical image exists (no rebuild); empty when
    /// the images are built.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_refs: BTreeMap<String, String>,
}

/// The plan of one pipeline run. The JSON shape is stable and documented field by field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Plan {
    /// The event, normalised.
    pub event: Event,
    /// The flow of the branch strategy.
    pub flow: Flow,
    /// Why this flow was chosen, in a sentence.
    pub reason: String,
    /// Which stages run.
    pub stages: Stages,
    /// The environment deployed to, if any.
    pub environment: Option<String>,
    /// For pull requests: the environment the base branch deploys to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_environment: Option<String>,
    /// The environment's tag prefix.
    pub tag_prefix: Option<String>,
    /// Tags produced for every image, immutable first.
    pub tags: Vec<String>,
    /// The immutable tag (the version written to the overlay), if any.
    pub version: Option<String>,
    /// Each image with its full references.
    pub images: Vec<PlannedImage>,
    /// Replica count of the environment.
    pub replicas: Option<u32>,
    /// Whether a manual approval is required before deploying.
    pub approval_required: bool,
    /// Reviewers needed when approval is required.
    pub reviewers: u32,
    /// Rollout strategy of the environment.
    pub strategy: Option<Strategy>,
    /// Overlay folder written on deploy.
    pub overlay: Option<String>,
    /// Environment URL, for health checks and links.
    pub url: Option<String>,
    /// Kubernetes namespace of the environment.
    pub namespace: Option<String>,
    /// The gates that apply.
    pub gates: GatePlan,
    /// Where the images come from (the previous environment), for deploy flows.
    pub promotion: Option<Promotion>,
    /// When the images enter the environment (the timestamp in the tags).
    pub time: DateTime<Utc>,
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The policy's tag templates are broken.
    #[error("cannot compile the policy's tag templates: {source}")]
    Templates {
        /// The tag error.
        #[source]
        source: TagError,
    },
    /// A tag could not be rendered for the environment.
    #[error("cannot render tags for environment '{environment}': {source}")]
    Tags {
        /// Environment.
        environment: String,
        /// The tag error.
        #[source]
        source: TagError,
    },
    /// A dispatch asked for an environment the policy does not have.
    #[error("unknown environment '{name}'; known: {known}")]
    UnknownEnvironment {
        /// The name asked for.
        name: String,
        /// Known names.
        known: String,
    },
    /// A git tag cannot become an image tag.
    #[error(
        "git tag '{tag}' cannot be used as an image tag; use a vMAJOR.MINOR.PATCH tag or enable tags.semver"
    )]
    InvalidReleaseTag {
        /// The git tag.
        tag: String,
    },
}

/// Plans `event` under `policy`; `time` is when the images enter the environment (stamped
/// into the tags). `promotable` is an identical image found in the promotion source (see
/// the module docs); `None` builds.
///
/// ```
/// use chrono::TimeZone;
/// use gitops_core::{event::{Event, EventFlags}, plan::{plan, Flow}, policy::Policy};
/// let policy = Policy::embedded_default();
/// let event = Event::from_flags(&EventFlags {
///     branch: Some("main".into()),
///     sha: Some("860c1904a1ce19322e91ac35af1ab07466440c37".into()),
///     ..EventFlags::default()
/// }).unwrap();
/// let time = chrono::Utc.with_ymd_and_hms(2025, 12, 3, 16, 0, 0).unwrap();
/// let plan = plan(&policy, &event, time, None).unwrap();
/// assert_eq!(plan.flow, Flow::Deploy);
/// assert_eq!(plan.environment.as_deref(), Some("production"));
/// assert!(plan.stages.approval && plan.approval_required);
/// assert_eq!(plan.tags, ["prod-860c190-20251203-160000", "prod-latest"]);
/// ```
pub fn plan(
    policy: &Policy,
    event: &Event,
    time: DateTime<Utc>,
    promotable: Option<&PromotableImage>,
) -> Result<Plan, PlanError> {
    let scheme = TagScheme::new(policy).map_err(|source| PlanError::Templates { source })?;
    let checks = Stages {
        secret_scan: policy.pr_checks.secret_scan,
        lint_test: policy.pr_checks.lint_test,
        quality: policy.pr_checks.quality,
        ..Stages::default()
    };
    let mut out = Plan {
        event: event.clone(),
        flow: Flow::None,
        reason: String::new(),
        stages: Stages::default(),
        environment: None,
        base_environment: None,
        tag_prefix: None,
        tags: Vec::new(),
        version: None,
        images: Vec::new(),
        replicas: None,
        approval_required: false,
        reviewers: 0,
        strategy: None,
        overlay: None,
        url: None,
        namespace: None,
        gates: GatePlan::default(),
        promotion: None,
        time,
    };

    if event.deleted {
        out.reason = "the push deleted its ref: nothing to build or deploy".to_owned();
        return Ok(out);
    }

    match event.kind {
        EventKind::PullRequest | EventKind::PullRequestTarget => {
            out.flow = Flow::PullRequest;
            out.stages = checks;
            out.base_environment = event
                .base
                .as_deref()
                .and_then(|b| policy.environment_for_branch(b))
                .map(|(n, _)| n.to_owned());
            out.reason = format!(
                "pull request {}into '{}': fast feedback only, no build",
                event
                    .branch
                    .as_deref()
                    .map(|b| format!("from '{b}' "))
                    .unwrap_or_default(),
                event.base.as_deref().unwrap_or("?")
            );
            out.gates = check_gates(policy, &checks);
            return Ok(out);
        }
        EventKind::Schedule => {
            out.flow = Flow::Scheduled;
            out.stages = Stages {
                secret_scan: policy.pr_checks.secret_scan,
                image_scan: true,
                ..Stages::default()
            };
            out.gates = GatePlan {
                secrets: out.stages.secret_scan && policy.gates.secrets.enabled,
                vulnerabilities_fail_on: policy
                    .gates
                    .vulnerabilities
                    .enabled
                    .then_some(policy.gates.vulnerabilities.fail_on),
                ..GatePlan::default()
            };
            out.reason =
                "scheduled run: re-scan the repository for secrets and the deployed images for new vulnerabilities"
                    .to_owned();
            return Ok(out);
        }
        EventKind::Push | EventKind::WorkflowDispatch => {}
    }

    // An explicit environment (dispatch input) wins over the branch mapping.
    let target = match &event.environment {
        Some(name) => Some(policy.environment(name).ok_or_else(|| {
            PlanError::UnknownEnvironment {
                name: name.clone(),
                known: policy
                    .environments
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })?),
        None => event
            .branch
            .as_deref()
            .and_then(|b| policy.environment_for_branch(b)),
    };

    if let (Some(git_tag), None) = (&event.tag, &target) {
        out.flow = Flow::Release;
        out.stages = Stages {
            build: true,
            image_scan: true,
            push: true,
            ..checks
        };
        out.tags = release_tags(git_tag, scheme.semver_enabled())?;
        out.version = out.tags.first().cloned();
        out.images = planned_images(policy, &out.tags);
        out.gates = build_gates(policy, &out.stages, None);
        out.reason = format!("git tag '{git_tag}' pushed: build and push release tags, no deploy");
        return Ok(out);
    }

    let Some((env_name, env)) = target else {
        out.flow = Flow::ChecksOnly;
        out.stages = checks;
        out.gates = check_gates(policy, &checks);
        out.reason = format!(
            "branch '{}' deploys to no environment: checks only (map it in gitops.yaml to deploy it)",
            event.branch.as_deref().unwrap_or("?")
        );
        return Ok(out);
    };

    let rendered = scheme
        .render(&TagInput {
            environment: env_name,
            prefix: &env.tag_prefix,
            sha: &event.sha,
            time,
            branch: event.branch.as_deref(),
        })
        .map_err(|source| PlanError::Tags {
            environment: env_name.to_owned(),
            source,
        })?;
    let approval = Policy::requires_approval(env);
    let from = policy.promotion_source(env_name).map(str::to_owned);
    let promoted = promotable.filter(|p| Some(&p.environment) == from.as_ref());
    out.flow = Flow::Deploy;
    out.stages = Stages {
        build: promoted.is_none(),
        image_scan: promoted.is_none(),
        push: true,
        deploy: true,
        integration_tests: env.tests.integration,
        e2e_tests: env.tests.e2e,
        approval,
        ..checks
    };
    out.environment = Some(env_name.to_owned());
    out.tag_prefix = Some(env.tag_prefix.clone());
    out.tags = rendered.all();
    out.version = Some(rendered.version.clone());
    out.images = planned_images(policy, &out.tags);
    out.replicas = Some(env.replicas);
    out.approval_required = approval;
    out.reviewers = if approval {
        env.approval.reviewers.max(1)
    } else {
        0
    };
    out.strategy = Some(env.strategy);
    out.overlay = Some(env.overlay.clone());
    out.url = env.url.clone();
    out.namespace = Some(env.namespace.clone().unwrap_or_else(|| env_name.to_owned()));
    out.gates = build_gates(policy, &out.stages, Some(env));
    out.promotion = from.map(|from_environment| Promotion {
        from_environment,
        source_refs: promoted.map(|p| p.source_refs.clone()).unwrap_or_default(),
    });
    out.reason = match (&event.environment, promoted) {
        (Some(_), _) => format!("manual run targeting '{env_name}'"),
        (None, Some(p)) => format!(
            "push to '{}' deploys to '{env_name}': promoting the identical image tested in '{}' (no rebuild)",
            event.branch.as_deref().unwrap_or("?"),
            p.environment
        ),
        (None, None) => format!(
            "push to '{}' deploys to '{env_name}'{}",
            event.branch.as_deref().unwrap_or("?"),
            if approval {
                " after a manual approval"
            } else {
                ""
            }
        ),
    };
    Ok(out)
}

fn release_tags(git_tag: &str, semver: bool) -> Result<Vec<String>, PlanError> {
    if let Some(tags) = semver.then(|| semver_tags(git_tag).ok()).flatten() {
        return Ok(tags);
    }
    if is_valid_tag(git_tag) {
        Ok(vec![git_tag.to_owned()])
    } else {
        Err(PlanError::InvalidReleaseTag {
            tag: git_tag.to_owned(),
        })
    }
}

fn planned_images(policy: &Policy, tags: &[String]) -> Vec<PlannedImage> {
    policy
        .images
        .iter()
        .map(|image| {
            let repository = policy.image_repository(image);
            PlannedImage {
                name: image.name.clone(),
                references: tags.iter().map(|t| format!("{repository}:{t}")).collect(),
                repository,
            }
        })
        .collect()
}

fn check_gates(policy: &Policy, stages: &Stages) -> GatePlan {
    let gates = &policy.gates;
    GatePlan {
        coverage_min_percent: (stages.lint_test && gates.coverage.enabled)
            .then_some(gates.coverage.min_percent),
        vulnerabilities_fail_on: (stages.image_scan && gates.vulnerabilities.enabled)
            .then_some(gates.vulnerabilities.fail_on),
        sonarqube: stages.quality && gates.sonarqube.enabled,
        secrets: stages.secret_scan && gates.secrets.enabled,
        integration_tests: false,
        e2e_tests: false,
    }
}

fn build_gates(policy: &Policy, stages: &Stages, env: Option<&Environment>) -> GatePlan {
    let mut gates = check_gates(policy, stages);
    if let Some(env) = env {
        gates.integration_tests = env.tests.integration;
        gates.e2e_tests = env.tests.e2e;
    }
    gates
}

impl Plan {
    /// A person-readable rendering.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let e = &self.event;
        let what = match (&e.branch, &e.tag, &e.base) {
            (_, _, Some(base)) if e.kind.is_pull_request() => format!(
                "{} {} -> {base}",
                e.kind,
                e.branch.as_deref().unwrap_or("?")
            ),
            (_, Some(tag), _) => format!("{} tag {tag}", e.kind),
            (Some(branch), _, _) => format!("{} {branch}", e.kind),
            _ => e.kind.to_string(),
        };
        out.push_str(&format!("event:       {what} @ {}\n", e.sha7()));
        out.push_str(&format!("flow:        {}\n", flow_name(self.flow)));
        out.push_str(&format!("why:         {}\n", self.reason));
        out.push_str(&format!(
            "environment: {}\n",
            self.environment.as_deref().unwrap_or("-")
        ));
        if let Some(base) = &self.base_environment {
            out.push_str(&format!("base env:    {base}\n"));
        }
        if let Some(replicas) = self.replicas {
            out.push_str(&format!("replicas:    {replicas}\n"));
        }
        if self.flow == Flow::Deploy {
            out.push_str(&format!(
                "approval:    {}\n",
                if self.approval_required {
                    format!("required ({} reviewer(s))", self.reviewers)
                } else {
                    "not required".to_owned()
                }
            ));
        }
        if let Some(p) = &self.promotion {
            out.push_str(&format!("promote:     from {}\n", p.from_environment));
            for (name, source) in &p.source_refs {
                out.push_str(&format!("  {name} <- {source}\n"));
            }
        }
        out.push_str("stages:\n");
        for (name, on) in self.stages.iter() {
            out.push_str(&format!("  [{}] {name}\n", if on { "x" } else { " " }));
        }
        let gates = self.gates.names();
        out.push_str(&format!(
            "gates:       {}\n",
            if gates.is_empty() {
                "-".to_owned()
            } else {
                gates.join(", ")
            }
        ));
        if !self.images.is_empty() {
            out.push_str("images:\n");
            for image in &self.images {
                for reference in &image.references {
                    out.push_str(&format!("  {reference}\n"));
                }
            }
        }
        out
    }

    /// A Markdown table for the GitHub step summary.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "### gitops plan: {} ({})\n\n{}\n\n| stage | runs |\n|---|---|\n",
            flow_name(self.flow),
            self.event.sha7(),
            self.reason
        );
        for (name, on) in self.stages.iter() {
            out.push_str(&format!(
                "| {name} | {} |\n",
                if on { "✅ yes" } else { "— no" }
            ));
        }
        out.push_str("\n| field | value |\n|---|---|\n");
        let row = |k: &str, v: String| format!("| {k} | {v} |\n");
        out.push_str(&row(
            "environment",
            self.environment.clone().unwrap_or_else(|| "—".to_owned()),
        ));
        if let Some(r) = self.replicas {
            out.push_str(&row("replicas", r.to_string()));
        }
        out.push_str(&row(
            "approval required",
            self.approval_required.to_string(),
        ));
        if let Some(p) = &self.promotion {
            out.push_str(&row("promote from", p.from_environment.clone()));
        }
        out.push_str(&row("gates", self.gates.names().join(", ")));
        if !self.tags.is_empty() {
            out.push_str(&row(
                "tags",
                self.tags
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ));
        }
        out
    }

    /// `(name, value)` pairs for `$GITHUB_OUTPUT`: every stage as `true`/`false`, the
    /// scalar fields, `tags` and `images` one per line, and the whole plan as compact JSON.
    pub fn outputs(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .stages
            .iter()
            .into_iter()
            .map(|(n, on)| (n.to_owned(), on.to_string()))
            .collect();
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        out.push(("flow".into(), flow_name(self.flow).to_owned()));
        out.push(("environment".into(), opt(&self.environment)));
        out.push(("tag_prefix".into(), opt(&self.tag_prefix)));
        out.push(("version".into(), opt(&self.version)));
        out.push(("tags".into(), self.tags.join("\n")));
        out.push((
            "images".into(),
            self.images
                .iter()
                .flat_map(|i| i.references.iter().cloned())
                .collect::<Vec<_>>()
                .join("\n"),
        ));
        out.push((
            "replicas".into(),
            self.replicas.map(|r| r.to_string()).unwrap_or_default(),
        ));
        out.push((
            "approval_required".into(),
            self.approval_required.to_string(),
        ));
        out.push((
            "promote_from".into(),
            self.promotion
                .as_ref()
                .map(|p| p.from_environment.clone())
                .unwrap_or_default(),
        ));
        out.push(("overlay".into(), opt(&self.overlay)));
        out.push(("sha".into(), self.event.sha.clone()));
        out.push((
            "plan".into(),
            serde_json::to_string(self).unwrap_or_default(),
        ));
        out
    }
}

/// The snake_case name of a flow.
pub fn flow_name(flow: Flow) -> &'static str {
    match flow {
        Flow::PullRequest => "pull_request",
        Flow::Deploy => "deploy",
        Flow::ChecksOnly => "checks_only",
        Flow::Release => "release",
        Flow::Scheduled => "scheduled",
        Flow::None => "none",
    }
}
