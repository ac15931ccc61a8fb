//! Environment protection and branch protection as policy: read the repository's settings,
//! compare them with the policy (pure), and apply the differences.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{GithubClient, GithubError, Verb, encode};
use crate::policy::{Environment, Policy};

/// A required reviewer of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reviewer {
    /// `User` or `Team`.
    #[serde(rename = "type")]
    pub kind: String,
    /// User or team ID.
    pub id: u64,
    /// Login or team slug.
    pub name: String,
}

/// An environment's protection as the repository has it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EnvironmentSettings {
    /// Required reviewers.
    pub reviewers: Vec<Reviewer>,
    /// Minutes to wait before deploying.
    pub wait_timer: u32,
    /// `None`: any branch may deploy; `protected`: protected branches; `custom`: the patterns.
    pub branch_policy: Option<String>,
    /// Custom deployment branch patterns.
    pub branch_patterns: Vec<String>,
}

/// A branch's protection as the repository has it (`None` fields: not required).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BranchSettings {
    /// Approving reviews required, when pull requests are required.
    pub required_reviews: Option<u32>,
    /// Required status check contexts.
    pub status_checks: Vec<String>,
    /// The raw protection object (kept so that applying preserves unrelated settings).
    #[serde(skip)]
    pub raw: Option<Value>,
}

/// The settings read from a repository: `None` means the environment does not exist or the
/// branch is not protected.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RepoSettings {
    /// By environment name (the policy's names).
    pub environments: IndexMap<String, Option<EnvironmentSettings>>,
    /// By branch name.
    pub branches: IndexMap<String, Option<BranchSettings>>,
}

/// One setting that differs from the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsDifference {
    /// `environment production` or `branch main`.
    pub scope: String,
    /// The setting, e.g. `required reviewers`.
    pub setting: String,
    /// What the policy asks for.
    pub expected: String,
    /// What the repository has.
    pub actual: String,
}

/// Reviewers the policy wants on an environment (0: none required).
fn wanted_reviewers(env: &Environment) -> u32 {
    if Policy::requires_approval(env) {
        env.approval.reviewers.max(1)
    } else {
        0
    }
}

/// Reviews the policy wants on a branch, when it asks for pull requests at all.
fn wanted_reviews(env: &Environment) -> Option<u32> {
    let bp = &env.branch_protection;
    let pr = bp.require_pull_request.unwrap_or(bp.required_reviews > 0);
    pr.then_some(bp.required_reviews)
}

/// Whether a policy branch is a plain name (globs cannot be read through the classic branch
/// protection API).
fn is_plain_branch(branch: &str) -> bool {
    !branch.contains(['*', '?', '['])
}

/// Compares the repository's settings with the policy (pure). Only what the policy asks for
/// is compared: extra status checks are fine; reviewers on an environment that deploys
/// automatically are reported, since they would block the pipeline.
pub fn compare_settings(policy: &Policy, actual: &RepoSettings) -> Vec<SettingsDifference> {
    let mut diffs = Vec::new();
    let mut push = |scope: &str, setting: &str, expected: String, actual: String| {
        diffs.push(SettingsDifference {
            scope: scope.to_owned(),
            setting: setting.to_owned(),
            expected,
            actual,
        });
    };
    for (name, env) in &policy.environments {
        let scope = format!("environment {name}");
        match actual.environments.get(name).and_then(Option::as_ref) {
            None => push(&scope, "exists", "yes".into(), "no".into()),
            Some(have) => {
                let want = wanted_reviewers(env);
                let count = u32::try_from(have.reviewers.len()).unwrap_or(u32::MAX);
                if (want == 0 && count > 0) || count < want {
                    push(
                        &scope,
                        "required reviewers",
                        if want == 0 {
                            "none (deploys automatically)".into()
                        } else {
                            format!("at least {want}")
                        },
                        if count == 0 {
                            "none".into()
                        } else {
                            have.reviewers
                                .iter()
                                .map(|r| r.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        },
                    );
                }
                if have.wait_timer != env.approval.wait_timer_minutes {
                    push(
                        &scope,
                        "wait timer",
                        format!("{} minutes", env.approval.wait_timer_minutes),
                        format!("{} minutes", have.wait_timer),
                    );
                }
                let branch_ok = have.branch_policy.as_deref() == Some("custom")
                    && have.branch_patterns.iter().any(|p| p == &env.branch);
                if !branch_ok {
                    push(
                        &scope,
                        "deployment branches",
                        format!("only {}", env.branch),
                        match have.branch_policy.as_deref() {
                            None => "any branch".into(),
                            Some("protected") => "protected branches".into(),
                            Some(_) if have.branch_patterns.is_empty() => "no branch".into(),
                            Some(_) => have.branch_patterns.join(", "),
                        },
                    );
                }
            }
        }
        let want_reviews = wanted_reviews(env);
        let want_checks = &env.branch_protection.required_status_checks;
        if (want_reviews.is_none() && want_checks.is_empty()) || !is_plain_branch(&env.branch) {
            continue;
        }
        let scope = format!("branch {}", env.branch);
        let have = actual.branches.get(&env.branch).and_then(Option::as_ref);
        let Some(have) = have else {
            push(&scope, "protected", "yes".into(), "no".into());
            continue;
        };
        if let Some(want) = want_reviews
            && have.required_reviews != Some(want)
        {
            push(
                &scope,
                "required approving reviews",
                want.to_string(),
                have.required_reviews
                    .map_or_else(|| "pull requests not required".into(), |n| n.to_string()),
            );
        }
        let missing: Vec<&str> = want_checks
            .iter()
            .filter(|c| !have.status_checks.contains(c))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            push(
                &scope,
                "required status checks",
                want_checks.join(", "),
                if have.status_checks.is_empty() {
                    "none".into()
                } else {
                    have.status_checks.join(", ")
                },
            );
        }
    }
    diffs
}

#[derive(Deserialize)]
struct RawEnvironment {
    name: String,
    #[serde(default)]
    protection_rules: Vec<RawRule>,
    #[serde(default)]
    deployment_branch_policy: Option<RawBranchPolicy>,
}

#[derive(Deserialize)]
struct RawRule {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    wait_timer: Option<u32>,
    #[serde(default)]
    reviewers: Vec<RawReviewer>,
}

#[derive(Deserialize)]
struct RawReviewer {
    #[serde(rename = "type")]
    kind: String,
    reviewer: Value,
}

#[derive(Deserialize)]
struct RawBranchPolicy {
    protected_branches: bool,
    custom_branch_policies: bool,
}

#[derive(Deserialize)]
struct RawBranchPattern {
    name: String,
}

impl GithubClient {
    /// Reads the environments and branch protections the policy talks about (paginated).
    pub async fn read_settings(&self, policy: &Policy) -> Result<RepoSettings, GithubError> {
        let listed: Vec<RawEnvironment> = self
            .list(
                &format!("{}/environments?per_page=100", self.repo_path()),
                Some("environments"),
                "list environments",
            )
            .await?;
        let mut settings = RepoSettings::default();
        for name in policy.environments.keys() {
            let Some(raw) = listed.iter().find(|e| &e.name == name) else {
                settings.environments.insert(name.clone(), None);
                continue;
            };
            let mut env = EnvironmentSettings::default();
            for rule in &raw.protection_rules {
                match rule.kind.as_str() {
                    "wait_timer" => env.wait_timer = rule.wait_timer.unwrap_or(0),
                    "required_reviewers" => {
                        env.reviewers = rule
                            .reviewers
                            .iter()
                            .map(|r| Reviewer {
                                kind: r.kind.clone(),
                                id: r.reviewer.get("id").and_then(Value::as_u64).unwrap_or(0),
                                name: r
                                    .reviewer
                                    .get("login")
                                    .or_else(|| r.reviewer.get("slug"))
                                    .and_then(Value::as_str)
                                    .unwrap_or("?")
                                    .to_owned(),
                            })
                            .collect();
                    }
                    _ => {}
                }
            }
            env.branch_policy = match &raw.deployment_branch_policy {
                None => None,
                Some(p) if p.custom_branch_policies => Some("custom".to_owned()),
                Some(p) if p.protected_branches => Some("protected".to_owned()),
                Some(_) => None,
            };
            if env.branch_policy.as_deref() == Some("custom") {
                let patterns: Vec<RawBranchPattern> = self
                    .list(
                        &format!(
                            "{}/environments/{}/deployment-branch-policies?per_page=100",
                            self.repo_path(),
                            encode(name)
                        ),
                        Some("branch_policies"),
                        &format!("list deployment branch policies of {name}"),
                    )
                    .await?;
                env.branch_patterns = patterns.into_iter().map(|p| p.name).collect();
            }
            settings.environments.insert(name.clone(), Some(env));
        }
        for env in policy.environments.values() {
            if !is_plain_branch(&env.branch) || settings.branches.contains_key(&env.branch) {
                continue;
            }
            let branch = self.read_branch_protection(&env.branch).await?;
            settings.branches.insert(env.branch.clone(), branch);
        }
        Ok(settings)
    }

    async fn read_branch_protection(
        &self,
        branch: &str,
    ) -> Result<Option<BranchSettings>, GithubError> {
        let action = format!("read the protection of branch {branch}");
        let uri = format!(
            "{}/branches/{}/protection",
            self.repo_path(),
            encode(branch)
        );
        let raw: Value = match self.json(Verb::Get, &uri, None::<&()>, &action).await {
            Ok(v) => v,
            // GitHub answers 404 "Branch not protected" (and for a missing branch).
            Err(GithubError::NotFound { .. }) => return Ok(None),
            Err(GithubError::Forbidden {
                action, message, ..
            }) => {
                return Err(GithubError::Forbidden {
                    action,
                    message,
                    hint: "reading branch protection needs an admin token (a fine-grained token with Administration: read, or a classic token with repo scope from an admin); GITHUB_TOKEN cannot",
                });
            }
            Err(e) => return Err(e),
        };
        let required_reviews = raw
            .pointer("/required_pull_request_reviews/required_approving_review_count")
            .and_then(Value::as_u64)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .or_else(|| raw.get("required_pull_request_reviews").map(|_| 0));
        let mut status_checks: Vec<String> = raw
            .pointer("/required_status_checks/contexts")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(checks) = raw
            .pointer("/required_status_checks/checks")
            .and_then(Value::as_array)
        {
            for check in checks {
                if let Some(context) = check.get("context").and_then(Value::as_str)
                    && !status_checks.iter().any(|c| c == context)
                {
                    status_checks.push(context.to_owned());
                }
            }
        }
        Ok(Some(BranchSettings {
            required_reviews,
            status_checks,
            raw: Some(raw),
        }))
    }

    /// Resolves `user:LOGIN` or `team:SLUG` (a team of the repository owner) to a reviewer.
    pub async fn resolve_reviewer(&self, spec: &str) -> Result<Reviewer, GithubError> {
        let (kind, name) = match spec.split_once(':') {
            Some(("team", slug)) => ("Team", slug),
            Some(("user", login)) => ("User", login),
            _ => ("User", spec),
        };
        let uri = if kind == "Team" {
            format!("/orgs/{}/teams/{}", encode(&self.owner), encode(name))
        } else {
            format!("/users/{}", encode(name))
        };
        let value: Value = self
            .json(
                Verb::Get,
                &uri,
                None::<&()>,
                &format!("look up reviewer {spec}"),
            )
            .await?;
        let id =
            value
                .get("id")
                .and_then(Value::as_u64)
                .ok_or_else(|| GithubError::Validation {
                    action: format!("look up reviewer {spec}"),
                    message: "the answer has no id".to_owned(),
                })?;
        Ok(Reviewer {
            kind: kind.to_owned(),
            id,
            name: name.to_owned(),
        })
    }

    /// Makes the repository match the policy; `extra_reviewers` are added to environments
    /// that need more reviewers than they have. Returns what was changed. A 403 becomes
    /// "an admin token is needed".
    pub async fn apply_settings(
        &self,
        policy: &Policy,
        actual: &RepoSettings,
        extra_reviewers: &[Reviewer],
    ) -> Result<Vec<String>, GithubError> {
        let mut changed = Vec::new();
        let diffs = compare_settings(policy, actual);
        for (name, env) in &policy.environments {
            let scope = format!("environment {name}");
            if !diffs.iter().any(|d| d.scope == scope) {
                continue;
            }
            let have = actual
                .environments
                .get(name)
                .cloned()
                .flatten()
                .unwrap_or_default();
            let want = wanted_reviewers(env);
            let reviewers: Vec<Reviewer> = if want == 0 {
                Vec::new()
            } else {
                let mut list = have.reviewers.clone();
                for extra in extra_reviewers {
                    if list.len() >= want as usize {
                        break;
                    }
                    if !list
                        .iter()
                        .any(|r| r.id == extra.id && r.kind == extra.kind)
                    {
                        list.push(extra.clone());
                    }
                }
                list
            };
            let body = json!({
                "wait_timer": env.approval.wait_timer_minutes,
                "reviewers": reviewers.iter().map(|r| json!({"type": r.kind, "id": r.id})).collect::<Vec<_>>(),
                "deployment_branch_policy": {"protected_branches": false, "custom_branch_policies": true},
            });
            self.admin(
                self.send(
                    Verb::Put,
                    &format!("{}/environments/{}", self.repo_path(), encode(name)),
                    Some(&body),
                    &format!("update environment {name}"),
                )
                .await,
            )?;
            changed.push(format!(
                "environment {name}: {} reviewers, wait timer {} minutes, deploys only from {}",
                reviewers.len(),
                env.approval.wait_timer_minutes,
                env.branch
            ));
            if !have.branch_patterns.iter().any(|p| p == &env.branch)
                || have.branch_policy.as_deref() != Some("custom")
            {
                let result = self
                    .send(
                        Verb::Post,
                        &format!(
                            "{}/environments/{}/deployment-branch-policies",
                            self.repo_path(),
                            encode(name)
                        ),
                        Some(&json!({"name": env.branch, "type": "branch"})),
                        &format!("allow branch {} to deploy to {name}", env.branch),
                    )
                    .await;
                match result {
                    // 303/422 "already exists" after switching the policy type is fine.
                    Err(GithubError::Validation { message, .. }) if message.contains("already") => {
                    }
                    other => {
                        self.admin(other)?;
                    }
                }
            }
        }
        let mut done_branches = Vec::new();
        for env in policy.environments.values() {
            let scope = format!("branch {}", env.branch);
            if done_branches.contains(&env.branch) || !diffs.iter().any(|d| d.scope == scope) {
                continue;
            }
            done_branches.push(env.branch.clone());
            let have = actual.branches.get(&env.branch).cloned().flatten();
            let body = protection_body(env, have.as_ref());
            self.admin(
                self.send(
                    Verb::Put,
                    &format!(
                        "{}/branches/{}/protection",
                        self.repo_path(),
                        encode(&env.branch)
                    ),
                    Some(&body),
                    &format!("protect branch {}", env.branch),
                )
                .await,
            )?;
            changed.push(format!(
                "branch {}: {} required reviews, checks: {}",
                env.branch,
                wanted_reviews(env).unwrap_or(0),
                env.branch_protection.required_status_checks.join(", ")
            ));
        }
        Ok(changed)
    }

    /// Turns a 403 on a settings endpoint into "an admin token is needed".
    fn admin<T>(&self, result: Result<T, GithubError>) -> Result<T, GithubError> {
        result.map_err(|e| match e {
            GithubError::Forbidden { action, message, .. } => GithubError::Forbidden {
                action,
                message,
                hint: "an admin token is needed: changing environments and branch protection requires a token of a repository admin (fine-grained: Administration and Environments read/write); GITHUB_TOKEN cannot",
            },
            other => other,
        })
    }
}

/// The `PUT .../protection` body: the policy's reviews and checks, keeping the other settings
/// the branch already has.
fn protection_body(env: &Environment, have: Option<&BranchSettings>) -> Value {
    let raw = have.and_then(|h| h.raw.clone()).unwrap_or(Value::Null);
    let mut checks: Vec<String> = have.map(|h| h.status_checks.clone()).unwrap_or_default();
    for check in &env.branch_protection.required_status_checks {
        if !checks.contains(check) {
            checks.push(check.clone());
        }
    }
    let strict = raw
        .pointer("/required_status_checks/strict")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let status_checks = if checks.is_empty() {
        Value::Null
    } else {
        json!({"strict": strict, "contexts": checks})
    };
    let reviews = match wanted_reviews(env) {
        Some(count) => {
            let flag = |key: &str| {
                raw.pointer(&format!("/required_pull_request_reviews/{key}"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            };
            json!({
                "required_approving_review_count": count,
                "dismiss_stale_reviews": flag("dismiss_stale_reviews"),
                "require_code_owner_reviews": flag("require_code_owner_reviews"),
            })
        }
        None => raw
            .get("required_pull_request_reviews")
            .map(|r| {
                json!({
                    "required_approving_review_count": r.get("required_approving_review_count").cloned().unwrap_or(json!(0)),
                })
            })
            .unwrap_or(Value::Null),
    };
    let enforce_admins = raw
        .pointer("/enforce_admins/enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let names = |key: &str, field: &str| -> Vec<Value> {
        raw.pointer(&format!("/restrictions/{key}"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.get(field).cloned()).collect())
            .unwrap_or_default()
    };
    let restrictions = if raw.get("restrictions").is_some_and(|r| !r.is_null()) {
        json!({"users": names("users", "login"), "teams": names("teams", "slug"), "apps": names("apps", "slug")})
    } else {
        Value::Null
    };
    let flag = |key: &str| {
        raw.pointer(&format!("/{key}/enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    json!({
        "required_status_checks": status_checks,
        "enforce_admins": enforce_admins,
        "required_pull_request_reviews": reviews,
        "restrictions": restrictions,
        "required_linear_history": flag("required_linear_history"),
        "allow_force_pushes": flag("allow_force_pushes"),
        "allow_deletions": flag("allow_deletions"),
    })
}
