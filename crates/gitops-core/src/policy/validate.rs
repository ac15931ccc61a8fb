//! Cross-field checks a schema cannot express: branch collisions, tag prefixes, overlay
//! paths, promotion sources, tag templates and globs. Every problem is collected, none stops
//! the others.

use std::collections::{BTreeMap, BTreeSet};

use chrono::DateTime;
use globset::Glob;

use super::source_map::PathSeg;
use super::{Policy, branch_glob};
use crate::image_ref::ImageRef;
use crate::tag::{TagError, TagInput, TagScheme, is_valid_tag};

/// One problem found by [`Policy::validate`]: where in the document and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Path of the offending value (`environments.staging.tag_prefix`).
    pub path: Vec<PathSeg>,
    /// What is wrong.
    pub message: String,
    /// What to do about it, when there is something specific to say.
    pub help: Option<String>,
}

fn key(k: &str) -> PathSeg {
    PathSeg::key(k)
}

struct Collector(Vec<Issue>);

impl Collector {
    fn push(&mut self, path: Vec<PathSeg>, message: String, help: Option<&str>) {
        self.0.push(Issue {
            path,
            message,
            help: help.map(str::to_owned),
        });
    }
}

impl Policy {
    /// Every cross-field problem of the policy (empty when it is usable).
    ///
    /// ```
    /// use gitops_core::policy::Policy;
    /// let mut policy = Policy::embedded_default();
    /// assert!(policy.validate().is_empty());
    /// policy.environments["staging"].branch = "dev".into();
    /// let issues = policy.validate();
    /// assert!(issues[0].message.contains("both deploy from branch 'dev'"));
    /// ```
    pub fn validate(&self) -> Vec<Issue> {
        let mut out = Collector(Vec::new());
        if self.version != 1 {
            out.push(
                vec![key("version")],
                format!("unsupported version {}", self.version),
                Some("only `version: 1` exists"),
            );
        }
        check_images(self, &mut out);
        check_environments(self, &mut out);
        check_tags(self, &mut out);
        check_gates_and_retention(self, &mut out);
        out.0
    }
}

fn check_images(policy: &Policy, out: &mut Collector) {
    if let Err(err) = ImageRef::parse(&format!("{}/x", policy.registry.trim_end_matches('/'))) {
        out.push(
            vec![key("registry")],
            format!("invalid registry '{}': {err}", policy.registry),
            Some("use host[:port][/namespace], e.g. ghcr.io/acme, or oci:PATH"),
        );
    }
    if policy.images.is_empty() {
        out.push(
            vec![key("images")],
            "no images declared".to_owned(),
            Some("list at least one image, e.g. `images: [{ name: backend }]`"),
        );
    }
    let mut seen = BTreeMap::new();
    for (i, image) in policy.images.iter().enumerate() {
        let here = |k: &str| vec![key("images"), PathSeg::Index(i), key(k)];
        if let Some(first) = seen.insert(image.name.as_str(), i) {
            out.push(
                here("name"),
                format!(
                    "image '{}' is declared twice (images[{first}] and images[{i}])",
                    image.name
                ),
                Some("give each image a unique name"),
            );
        }
        match ImageRef::parse(&policy.image_repository(image)) {
            Ok(r) if r.tag.is_none() && r.digest.is_none() => {}
            Ok(_) => out.push(
                here(if image.repository.is_some() {
                    "repository"
                } else {
                    "name"
                }),
                format!(
                    "image repository '{}' must not carry a tag or digest",
                    policy.image_repository(image)
                ),
                Some("tags are generated per environment; remove ':tag' / '@digest'"),
            ),
            Err(err) => out.push(
                here(if image.repository.is_some() {
                    "repository"
                } else {
                    "name"
                }),
                err.to_string(),
                None,
            ),
        }
        for (j, pattern) in image.paths.iter().enumerate() {
            if let Err(err) = Glob::new(pattern) {
                out.push(
                    vec![
                        key("images"),
                        PathSeg::Index(i),
                        key("paths"),
                        PathSeg::Index(j),
                    ],
                    format!("invalid glob '{pattern}': {}", err.kind()),
                    None,
                );
            }
        }
    }
}

fn check_environments(policy: &Policy, out: &mut Collector) {
    if policy.environments.is_empty() {
        out.push(
            vec![key("environments")],
            "no environments declared".to_owned(),
            Some("declare at least one, e.g. `environments: { development: { branch: dev, tag_prefix: dev, overlay: infra/k8s/overlays/dev } }`"),
        );
    }
    let mut branches: BTreeMap<&str, &str> = BTreeMap::new();
    let mut prefixes: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, env) in &policy.environments {
        let here = |k: &str| vec![key("environments"), key(name), key(k)];
        // Branch collisions: identical patterns, or one pattern matching the other literally.
        match branch_glob(&env.branch) {
            Err(err) => out.push(
                here("branch"),
                format!("invalid branch pattern '{}': {}", env.branch, err.kind()),
                None,
            ),
            Ok(matcher) => {
                for (other_branch, other) in &branches {
                    let other_matches = branch_glob(other_branch)
                        .map(|g| g.is_match(&env.branch))
                        .unwrap_or(false);
                    if *other_branch == env.branch.as_str()
                        || matcher.is_match(other_branch)
                        || other_matches
                    {
                        out.push(
                            here("branch"),
                            format!(
                                "environments '{other}' and '{name}' both deploy from branch '{}'{}",
                                env.branch,
                                if *other_branch == env.branch.as_str() {
                                    String::new()
                                } else {
                                    format!(" (overlaps '{other_branch}')")
                                }
                            ),
                            Some("each branch may deploy to one environment only"),
                        );
                    }
                }
            }
        }
        if env.branch.trim().is_empty() {
            out.push(here("branch"), "empty branch".to_owned(), None);
        }
        branches.insert(env.branch.as_str(), name.as_str());

        if !is_valid_tag(&env.tag_prefix) || env.tag_prefix.len() > 64 {
            out.push(
                here("tag_prefix"),
                format!("tag prefix '{}' is not valid in an OCI tag", env.tag_prefix),
                Some("use 1-64 characters of [A-Za-z0-9_.-], starting with a letter, digit or '_'"),
            );
        }
        if let Some(other) = prefixes.insert(env.tag_prefix.as_str(), name.as_str()) {
            out.push(
                here("tag_prefix"),
                format!(
                    "environments '{other}' and '{name}' share the tag prefix '{}'",
                    env.tag_prefix
                ),
                Some("tag prefixes identify the environment of an image; make them unique"),
            );
        }
        check_overlay(&env.overlay, here("overlay"), out);
        if let Some(from) = &env.promote_from {
            if from == name {
                out.push(
                    here("promote_from"),
                    format!("environment '{name}' cannot promote from itself"),
                    None,
                );
            } else if !policy.environments.contains_key(from) {
                let known: Vec<&str> = policy.environments.keys().map(String::as_str).collect();
                out.push(
                    here("promote_from"),
                    format!("unknown environment '{from}'{}", suggest(from, &known)),
                    Some(&format!("known environments: {}", known.join(", "))),
                );
            }
        }
        if let Some(ns) = &env.namespace {
            let ok = !ns.is_empty()
                && ns.len() <= 63
                && ns
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !ns.starts_with('-')
                && !ns.ends_with('-');
            if !ok {
                out.push(
                    here("namespace"),
                    format!("namespace '{ns}' is not a valid Kubernetes name"),
                    Some("use up to 63 lower-case letters, digits and '-'"),
                );
            }
        }
    }
    // Promotion cycles (a -> b -> a) would make "where does this image come from" endless.
    for name in policy.environments.keys() {
        let mut seen = BTreeSet::new();
        let mut current = name.as_str();
        let mut bounded = policy.environments.len() + 1;
        while let Some(from) = policy.promotion_source(current) {
            if !seen.insert(current) || bounded == 0 {
                out.push(
                    vec![key("environments"), key(name), key("promote_from")],
                    format!("promotion from '{name}' runs in a cycle"),
                    Some("promote_from must lead back to the first environment"),
                );
                break;
            }
            bounded -= 1;
            if !policy.environments.contains_key(from) {
                break;
            }
            current = from;
        }
    }
}

fn check_overlay(overlay: &str, path: Vec<PathSeg>, out: &mut Collector) {
    let windows_abs = overlay.len() >= 2 && overlay.as_bytes()[1] == b':';
    if overlay.trim().is_empty() {
        out.push(path, "empty overlay path".to_owned(), None);
    } else if overlay.starts_with('/') || overlay.starts_with('\\') || windows_abs {
        out.push(
            path,
            format!("overlay path '{overlay}' is absolute"),
            Some("give the overlay relative to the GitOps repository root, e.g. infra/k8s/overlays/dev"),
        );
    } else {
        let mut depth: i64 = 0;
        for part in overlay.split(['/', '\\']) {
            match part {
                "" | "." => {}
                ".." => depth -= 1,
                _ => depth += 1,
            }
            if depth < 0 {
                out.push(
                    path,
                    format!("overlay path '{overlay}' escapes the repository with '..'"),
                    Some("keep the overlay inside the GitOps repository"),
                );
                return;
            }
        }
    }
}

fn check_tags(policy: &Policy, out: &mut Collector) {
    let scheme = match TagScheme::new(policy) {
        Ok(scheme) => scheme,
        Err(err) => {
            let template_ok = TagScheme::from_parts(
                &crate::policy::TagPolicy {
                    latest: None,
                    ..policy.tags.clone()
                },
                Vec::new(),
            )
            .is_ok();
            let field = if template_ok { "latest" } else { "template" };
            out.push(vec![key("tags"), key(field)], err.to_string(), None);
            return;
        }
    };
    let attributable = |t: &str| t.contains("{prefix}") || t.contains("{env}");
    if !attributable(&policy.tags.template) {
        out.push(
            vec![key("tags"), key("template")],
            format!(
                "tag template '{}' has neither {{prefix}} nor {{env}}",
                policy.tags.template
            ),
            Some("tags must name their environment so retention and promotion can tell them apart"),
        );
    }
    if !(policy.tags.template.contains("{sha7}") || policy.tags.template.contains("{sha}")) {
        out.push(
            vec![key("tags"), key("template")],
            format!(
                "tag template '{}' has neither {{sha7}} nor {{sha}}",
                policy.tags.template
            ),
            Some("the immutable tag must identify the commit, e.g. {prefix}-{sha7}-{timestamp}"),
        );
    }
    if let Some(latest) = policy.tags.latest.as_ref().filter(|l| !attributable(l)) {
        {
            out.push(
                vec![key("tags"), key("latest")],
                format!("moving tag template '{latest}' has neither {{prefix}} nor {{env}}"),
                Some("use e.g. {prefix}-latest, or `latest: null` to disable the moving tag"),
            );
        }
    }
    // Render once per environment with sample values to catch prefixes or literals that make
    // an invalid tag (long names, characters OCI tags forbid).
    for (name, env) in &policy.environments {
        if !is_valid_tag(&env.tag_prefix) {
            continue; // reported on the prefix itself
        }
        let sample = TagInput {
            environment: name,
            prefix: &env.tag_prefix,
            sha: "0123456789abcdef0123456789abcdef01234567",
            time: DateTime::UNIX_EPOCH,
            branch: Some("main"),
        };
        if let Err(err @ TagError::InvalidTag { .. }) = scheme.render(&sample) {
            out.push(
                vec![key("tags"), key("template")],
                format!("environment '{name}': {err}"),
                None,
            );
        }
    }
}

fn check_gates_and_retention(policy: &Policy, out: &mut Collector) {
    let min = policy.gates.coverage.min_percent;
    if !(0.0..=100.0).contains(&min) || min.is_nan() {
        out.push(
            vec![key("gates"), key("coverage"), key("min_percent")],
            format!("coverage threshold {min} is outside 0-100"),
            None,
        );
    }
    for (i, pattern) in policy.retention.protected.iter().enumerate() {
        if let Err(err) = Glob::new(pattern) {
            out.push(
                vec![key("retention"), key("protected"), PathSeg::Index(i)],
                format!("invalid glob '{pattern}': {}", err.kind()),
                None,
            );
        }
    }
    if policy.gitops.push_attempts == 0 {
        out.push(
            vec![key("gitops"), key("push_attempts")],
            "push_attempts must be at least 1".to_owned(),
            None,
        );
    }
}

/// `, did you mean 'x'?` for the closest candidate, or nothing.
pub(crate) fn suggest(word: &str, candidates: &[&str]) -> String {
    closest(word, candidates)
        .map(|c| format!(", did you mean '{c}'?"))
        .unwrap_or_default()
}

/// The candidate most similar to `word`, when one is similar enough to be a likely typo.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}
