//! The `gitops.yaml` data model. Every default lives here, documented where it is defined.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;

/// The whole policy file: environments in promotion order, images, tags, gates and retention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Version of the file format. Only `1` exists.
    #[serde(default = "default_version")]
    pub version: u32,
    /// Registry and namespace the images live under, e.g.
    /// `registry.digitalocean.com/ai-incident-assistant`, `ghcr.io/acme`, or `oci:./registry`
    /// for an OCI image-layout folder.
    pub registry: String,
    /// The images this repository builds. Monorepos may list dozens.
    pub images: Vec<ImageSpec>,
    /// Deployment environments, keyed by name, in promotion order (earliest first): each one
    /// promotes from the one before it unless `promote_from` says otherwise.
    pub environments: IndexMap<String, Environment>,
    /// How image tags are formed.
    #[serde(default)]
    pub tags: TagPolicy,
    /// Checks run on pull requests (fast feedback, no build).
    #[serde(default)]
    pub pr_checks: PrChecks,
    /// Quality gates a build must pass.
    #[serde(default)]
    pub gates: Gates,
    /// Registry clean-up rules shared by all environments.
    #[serde(default)]
    pub retention: RetentionPolicy,
    /// Where and how deploy commits are written.
    #[serde(default)]
    pub gitops: GitopsSettings,
}

fn default_version() -> u32 {
    1
}

/// One image built by the repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// The name used in the Kustomize base (`image: backend`) and in `images:` entries.
    pub name: String,
    /// Full repository reference; defaults to `<registry>/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Source paths (globs, relative to the repository root) whose changes require a new build
    /// of this image. Empty means every change rebuilds it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Docker build context, relative to the repository root. Default: `.`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Dockerfile path, relative to the repository root. Default: `<context>/Dockerfile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
}

/// A deployment environment such as development, staging or production.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Branch whose pushes deploy here: a name (`dev`) or a glob (`release/*`).
    pub branch: String,
    /// Prefix of this environment's image tags (`dev` gives `dev-abc1234-...`). Must be valid in
    /// an OCI tag.
    pub tag_prefix: String,
    /// Kustomize overlay folder, relative to the GitOps repository root.
    pub overlay: String,
    /// Replica count written to the overlay. Default: 1.
    #[serde(default = "default_replicas")]
    pub replicas: u32,
    /// `auto` deploys on push; `manual` waits for approval. Default: `auto`.
    #[serde(default)]
    pub deploy: DeployMode,
    /// Approval before deploying (GitHub environment protection). Default: none.
    #[serde(default)]
    pub approval: Approval,
    /// Test suites that must pass after deploying here. Default: none.
    #[serde(default)]
    pub tests: EnvironmentTests,
    /// Rollout strategy of the workload. Default: `rolling`.
    #[serde(default)]
    pub strategy: Strategy,
    /// Public URL of the environment, used for health checks and deployment links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Kubernetes namespace the environment runs in. Default: the environment's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Environment whose tested image is promoted here. Default: the environment listed before
    /// this one; the first environment builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote_from: Option<String>,
    /// Branch of the GitOps repository holding this environment's overlay. Default:
    /// `gitops.branch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitops_branch: Option<String>,
    /// How long this environment's images are kept.
    #[serde(default)]
    pub retention: EnvironmentRetention,
    /// Branch protection expected on this environment's branch.
    #[serde(default)]
    pub branch_protection: BranchProtection,
}

fn default_replicas() -> u32 {
    1
}

/// Whether pushes deploy without a person approving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DeployMode {
    /// Deploy as soon as the build passes its gates.
    #[default]
    Auto,
    /// Wait for an approval (GitHub environment reviewers).
    Manual,
}

/// Approval rules, enforced through GitHub environment protection.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// An approval is required before deploying. Default: false.
    #[serde(default)]
    pub required: bool,
    /// Minimum number of reviewers who must approve. Default: 0 (1 when `required`).
    #[serde(default)]
    pub reviewers: u32,
    /// Minutes to wait after approval before deploying. Default: 0.
    #[serde(default)]
    pub wait_timer_minutes: u32,
}

/// Test suites run against an environment after it is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentTests {
    /// Integration tests must pass. Default: false.
    #[serde(default)]
    pub integration: bool,
    /// End-to-end tests (Selenium, Playwright) must pass. Default: false.
    #[serde(default)]
    pub e2e: bool,
    /// Chaos experiments run (never gating). Default: false.
    #[serde(default)]
    pub chaos: bool,
}

/// How the workload rolls out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Kubernetes rolling update.
    #[default]
    Rolling,
    /// Blue-green with a manual switch of traffic.
    BlueGreen,
    /// Canary with progressive traffic shifting.
    Canary,
}

/// Per-environment image retention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentRetention {
    /// Images older than this are deleted (unless something keeps them). Default: 30d.
    #[serde(default = "default_max_age")]
    pub max_age: HumanDuration,
    /// Keep the `<prefix>-latest` tag and its image forever. Default: true.
    #[serde(default = "default_true")]
    pub keep_latest: bool,
    /// Always keep this many of the environment's newest images besides the ones its overlay
    /// deploys, so that there is something to roll back to. Default: 3.
    #[serde(default = "default_keep_min")]
    pub keep_min: u32,
}

impl Default for EnvironmentRetention {
    fn default() -> Self {
        Self {
            max_age: default_max_age(),
            keep_latest: true,
            keep_min: default_keep_min(),
        }
    }
}

fn default_max_age() -> HumanDuration {
    HumanDuration::days(30)
}

fn default_keep_min() -> u32 {
    3
}

fn default_true() -> bool {
    true
}

/// Branch protection expected on an environment's branch (`gitops github check`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BranchProtection {
    /// Changes must arrive through a pull request. Default: true when `required_reviews` > 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_pull_request: Option<bool>,
    /// Approving reviews a pull request needs. Default: 0.
    #[serde(default)]
    pub required_reviews: u32,
    /// Status checks that must pass before merging. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_status_checks: Vec<String>,
}

/// How tags are formed from an event.
///
/// Placeholders: `{prefix}` (the environment's tag prefix), `{env}` (its name), `{sha7}`,
/// `{sha}` (40 hex), `{timestamp}` (`YYYYMMDD-HHMMSS`, UTC), `{date}` (`YYYYMMDD`),
/// `{branch}` (sanitised for OCI tags).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagPolicy {
    /// Template of the immutable tag. Default: `{prefix}-{sha7}-{timestamp}`.
    #[serde(default = "default_tag_template")]
    pub template: String,
    /// Template of the moving tag; `null` disables it. Default: `{prefix}-latest`.
    #[serde(default = "default_latest_template")]
    pub latest: Option<String>,
    /// Also tag `X.Y.Z`, `X.Y` and `X` when a `vX.Y.Z` git tag is pushed (only `X.Y.Z` for
    /// pre-releases). Default: false.
    #[serde(default)]
    pub semver: bool,
}

impl Default for TagPolicy {
    fn default() -> Self {
        Self {
            template: default_tag_template(),
            latest: default_latest_template(),
            semver: false,
        }
    }
}

fn default_tag_template() -> String {
    "{prefix}-{sha7}-{timestamp}".to_owned()
}

#[allow(clippy::unnecessary_wraps)]
fn default_latest_template() -> Option<String> {
    Some("{prefix}-latest".to_owned())
}

/// Checks run on every pull request. All default to true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrChecks {
    /// Secret scanning (gitleaks). Default: true.
    #[serde(default = "default_true")]
    pub secret_scan: bool,
    /// Lint and unit tests. Default: true.
    #[serde(default = "default_true")]
    pub lint_test: bool,
    /// Code quality (SonarQube). Default: true.
    #[serde(default = "default_true")]
    pub quality: bool,
}

impl Default for PrChecks {
    fn default() -> Self {
        Self {
            secret_scan: true,
            lint_test: true,
            quality: true,
        }
    }
}

/// Quality gates.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    /// Test coverage.
    #[serde(default)]
    pub coverage: CoverageGate,
    /// Image vulnerabilities (Trivy).
    #[serde(default)]
    pub vulnerabilities: VulnerabilityGate,
    /// SonarQube quality gate.
    #[serde(default)]
    pub sonarqube: SonarGate,
    /// Leaked secrets (gitleaks).
    #[serde(default)]
    pub secrets: SecretsGate,
}

/// Line coverage must be strictly greater than `min_percent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoverageGate {
    /// Gate enabled. Default: true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Coverage must be strictly greater than this percentage. Default: 50.
    #[serde(default = "default_coverage")]
    pub min_percent: f64,
}

impl Default for CoverageGate {
    fn default() -> Self {
        Self {
            enabled: true,
            min_percent: default_coverage(),
        }
    }
}

fn default_coverage() -> f64 {
    50.0
}

/// Vulnerability severities, lowest first.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Severity not known to the scanner.
    Unknown,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    #[default]
    Critical,
}

/// Fail when a vulnerability at or above `fail_on` is found and not allow-listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VulnerabilityGate {
    /// Gate enabled. Default: true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Lowest severity that fails the gate. Default: CRITICAL.
    #[serde(default)]
    pub fail_on: Severity,
    /// YAML file of allowed vulnerability IDs, each with a reason and an expiry date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowlist: Option<String>,
}

impl Default for VulnerabilityGate {
    fn default() -> Self {
        Self {
            enabled: true,
            fail_on: Severity::Critical,
            allowlist: None,
        }
    }
}

/// The SonarQube quality gate must pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SonarGate {
    /// Gate enabled. Default: true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Accept status NONE (no quality gate configured on the server). Default: false.
    #[serde(default)]
    pub allow_none: bool,
    /// How long to wait for the analysis. Default: 5m.
    #[serde(default = "default_sonar_timeout")]
    pub timeout: HumanDuration,
}

impl Default for SonarGate {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_none: false,
            timeout: default_sonar_timeout(),
        }
    }
}

fn default_sonar_timeout() -> HumanDuration {
    HumanDuration::from_seconds(300)
}

/// No secret may be found by the scanner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretsGate {
    /// Gate enabled. Default: true.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

impl Default for SecretsGate {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// Registry clean-up rules shared by all environments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Tags matching any of these globs are never deleted (e.g. `v*`, `[0-9]*.[0-9]*.[0-9]*`).
    /// Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected: Vec<String>,
    /// What to do with manifests no tag points at. Default: `keep`.
    #[serde(default)]
    pub untagged: UntaggedAction,
    /// Most deletions a single run may make. Default: 100.
    #[serde(default = "default_max_deletions")]
    pub max_deletions: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            protected: Vec::new(),
            untagged: UntaggedAction::Keep,
            max_deletions: default_max_deletions(),
        }
    }
}

fn default_max_deletions() -> u32 {
    100
}

/// Treatment of untagged manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UntaggedAction {
    /// Never delete untagged manifests.
    #[default]
    Keep,
    /// Delete untagged manifests nothing kept refers to.
    Delete,
}

/// Where deploy commits go and how they are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitopsSettings {
    /// Repository holding the overlays: `.` (this repository), a path, or a clone URL.
    /// Default: `.`.
    #[serde(default = "default_gitops_repo")]
    pub repo: String,
    /// Branch deploy commits are pushed to. Default: `main`.
    #[serde(default = "default_gitops_branch")]
    pub branch: String,
    /// `push` commits straight to the branch; `pull-request` pushes a branch for review.
    /// Default: `push`.
    #[serde(default)]
    pub mode: WriteMode,
    /// Commit subject template. Placeholders: `{env}`, `{images}` (`name tag` pairs).
    /// Default: `deploy({env}): {images}`.
    #[serde(default = "default_commit_message")]
    pub commit_message: String,
    /// Commit author name. Default: `gitops-bot`.
    #[serde(default = "default_author_name")]
    pub author_name: String,
    /// Commit author e-mail. Default: `gitops-bot@users.noreply.github.com`.
    #[serde(default = "default_author_email")]
    pub author_email: String,
    /// Push attempts before giving up when the remote moved. Default: 10.
    #[serde(default = "default_push_attempts")]
    pub push_attempts: u32,
}

impl Default for GitopsSettings {
    fn default() -> Self {
        Self {
            repo: default_gitops_repo(),
            branch: default_gitops_branch(),
            mode: WriteMode::Push,
            commit_message: default_commit_message(),
            author_name: default_author_name(),
            author_email: default_author_email(),
            push_attempts: default_push_attempts(),
        }
    }
}

fn default_gitops_repo() -> String {
    ".".to_owned()
}
fn default_gitops_branch() -> String {
    "main".to_owned()
}
fn default_commit_message() -> String {
    "deploy({env}): {images}".to_owned()
}
fn default_author_name() -> String {
    "gitops-bot".to_owned()
}
fn default_author_email() -> String {
    "gitops-bot@users.noreply.github.com".to_owned()
}
fn default_push_attempts() -> u32 {
    10
}

/// How deploy commits reach the GitOps branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WriteMode {
    /// Commit and push straight to the branch.
    #[default]
    Push,
    /// Push a branch and open a pull request (protected branches).
    PullRequest,
}

impl Policy {
    /// The repository reference of an image: `repository` if set, else `<registry>/<name>`.
    pub fn image_repository(&self, image: &ImageSpec) -> String {
        image
            .repository
            .clone()
            .unwrap_or_else(|| format!("{}/{}", self.registry.trim_end_matches('/'), image.name))
    }

    /// The environment with this name, or whose tag prefix is `name_or_prefix`.
    pub fn environment(&self, name_or_prefix: &str) -> Option<(&str, &Environment)> {
        self.environments
            .get_key_value(name_or_prefix)
            .or_else(|| {
                self.environments
                    .iter()
                    .find(|(_, env)| env.tag_prefix == name_or_prefix)
            })
            .map(|(name, env)| (name.as_str(), env))
    }

    /// The environment an environment promotes from: `promote_from`, else the one listed before.
    pub fn promotion_source(&self, name: &str) -> Option<&str> {
        let index = self.environments.get_index_of(name)?;
        let env = &self.environments[index];
        match &env.promote_from {
            Some(from) => Some(from.as_str()),
            None if index > 0 => self
                .environments
                .get_index(index - 1)
                .map(|(n, _)| n.as_str()),
            None => None,
        }
    }

    /// The GitOps branch an environment's overlay lives on.
    pub fn gitops_branch<'a>(&'a self, env: &'a Environment) -> &'a str {
        env.gitops_branch.as_deref().unwrap_or(&self.gitops.branch)
    }

    /// Whether deploying to this environment needs an approval.
    pub fn requires_approval(env: &Environment) -> bool {
        env.deploy == DeployMode::Manual || env.approval.required
    }
}
