//! Image tags: rendering `<prefix>-<sha7>-<YYYYMMDD-HHMMSS>` (or a custom template) and
//! `<prefix>-latest`, parsing them back, semver tags, and OCI tag validity.

use std::sync::OnceLock;

use chrono::{DateTime, NaiveDateTime, Utc};
use regex::Regex;
use serde::Serialize;

use crate::policy::{Policy, TagPolicy};

/// Longest tag the OCI distribution spec allows.
pub const MAX_TAG_LEN: usize = 128;

/// Format of `{timestamp}`: `YYYYMMDD-HHMMSS` in UTC.
pub const TIMESTAMP_FORMAT: &str = "%Y%m%d-%H%M%S";

/// Why a tag could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// The commit sha is not hexadecimal or is too short.
    #[error(
        "invalid commit sha '{sha}': expected at least 7 hexadecimal characters (a full 40-character sha is best)"
    )]
    InvalidSha {
        /// The sha given.
        sha: String,
    },
    /// The template names a placeholder that does not exist.
    #[error(
        "tag template '{template}' uses unknown placeholder '{{{placeholder}}}'; known: {{prefix}}, {{env}}, {{sha7}}, {{sha}}, {{timestamp}}, {{date}}, {{branch}}"
    )]
    UnknownPlaceholder {
        /// The template.
        template: String,
        /// The unknown name.
        placeholder: String,
    },
    /// The template has an unclosed `{`.
    #[error("tag template '{template}' has an unclosed '{{'")]
    UnclosedPlaceholder {
        /// The template.
        template: String,
    },
    /// The template uses `{branch}` but the event has no branch.
    #[error(
        "tag template '{template}' needs {{branch}} but the event has no branch; remove it from the template or run on a branch"
    )]
    MissingBranch {
        /// The template.
        template: String,
    },
    /// The rendered tag is not a valid OCI tag and cannot be made valid.
    #[error(
        "'{tag}' is not a valid OCI tag (1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'); change the template or tag prefix"
    )]
    InvalidTag {
        /// The rendered text.
        tag: String,
    },
    /// A semver git tag could not be parsed.
    #[error(
        "'{version}' is not a semantic version (expected vMAJOR.MINOR.PATCH, e.g. v1.2.3): {reason}"
    )]
    InvalidVersion {
        /// The text given.
        version: String,
        /// The parser's explanation.
        reason: String,
    },
}

/// Whether `tag` is a valid OCI tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
///
/// ```
/// assert!(gitops_core::tag::is_valid_tag("dev-abc1234-20251203-120000"));
/// assert!(!gitops_core::tag::is_valid_tag("-bad"));
/// assert!(!gitops_core::tag::is_valid_tag("feature/x"));
/// ```
pub fn is_valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_TAG_LEN
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Makes free text (such as a branch name) usable inside a tag: lower-cases it, replaces
/// every character outside `[a-z0-9._-]` with `-`, collapses runs of `-`, and trims leading
/// `.`/`-` and trailing `-`. Returns an empty string when nothing usable is left.
///
/// ```
/// assert_eq!(gitops_core::tag::sanitize_component("Feature/Add_Analytics!"), "feature-add_analytics");
/// ```
pub fn sanitize_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        let keep = c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        let c = if keep { c } else { '-' };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    out.trim_start_matches(['.', '-'])
        .trim_end_matches('-')
        .to_owned()
}

/// Checks a commit sha and returns it lower-cased.
pub fn validate_sha(sha: &str) -> Result<String, TagError> {
    if sha.len() >= 7 && sha.len() <= 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(sha.to_ascii_lowercase())
    } else {
        Err(TagError::InvalidSha {
            sha: sha.to_owned(),
        })
    }
}

/// Everything a tag template may refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagInput<'a> {
    /// Environment name (`development`).
    pub environment: &'a str,
    /// Its tag prefix (`dev`).
    pub prefix: &'a str,
    /// Commit sha, at least 7 hex characters.
    pub sha: &'a str,
    /// When the image enters the environment.
    pub time: DateTime<Utc>,
    /// Branch of the event, if any.
    pub branch: Option<&'a str>,
}

/// The tags for one environment: the immutable one first, then the moving one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvironmentTags {
    /// The immutable, timestamped tag (`dev-abc1234-20251203-120000`).
    pub version: String,
    /// The moving tag (`dev-latest`), unless disabled.
    pub latest: Option<String>,
}

impl EnvironmentTags {
    /// All tags, immutable first.
    pub fn all(&self) -> Vec<String> {
        std::iter::once(self.version.clone())
            .chain(self.latest.clone())
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Prefix,
    Env,
    Sha7,
    Sha,
    Timestamp,
    Date,
    Branch,
}

fn compile(template: &str) -> Result<Vec<Part>, TagError> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Literal(rest[..open].to_owned()));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| TagError::UnclosedPlaceholder {
                template: template.to_owned(),
            })?;
        let part = match &after[..close] {
            "prefix" => Part::Prefix,
            "env" => Part::Env,
            "sha7" => Part::Sha7,
            "sha" => Part::Sha,
            "timestamp" => Part::Timestamp,
            "date" => Part::Date,
            "branch" => Part::Branch,
            other => {
                return Err(TagError::UnknownPlaceholder {
                    template: template.to_owned(),
                    placeholder: other.to_owned(),
                });
            }
        };
        parts.push(part);
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_owned()));
    }
    Ok(parts)
}

fn render(template: &str, parts: &[Part], input: &TagInput<'_>) -> Result<String, TagError> {
    let sha = validate_sha(input.sha)?;
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Literal(text) => out.push_str(text),
            Part::Prefix => out.push_str(input.prefix),
            Part::Env => out.push_str(&sanitize_component(input.environment)),
            Part::Sha7 => out.push_str(&sha[..7]),
            Part::Sha => out.push_str(&sha),
            Part::Timestamp => out.push_str(&input.time.format(TIMESTAMP_FORMAT).to_string()),
            Part::Date => out.push_str(&input.time.format("%Y%m%d").to_string()),
            Part::Branch => {
                let branch = input
                    .branch
                    .map(sanitize_component)
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| TagError::MissingBranch {
                        template: template.to_owned(),
                    })?;
                out.push_str(&branch);
            }
        }
    }
    if out.len() > MAX_TAG_LEN {
        // Long branch names are the usual cause: cut, then re-trim so the tag stays valid.
        out.truncate(MAX_TAG_LEN);
        out = out.trim_end_matches(['-', '.']).to_owned();
    }
    if is_valid_tag(&out) {
        Ok(out)
    } else {
        Err(TagError::InvalidTag { tag: out })
    }
}

/// A tag read back into its parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParsedTag {
    /// The environment's tag prefix (`dev`).
    pub prefix: String,
    /// The environment's name, when the policy knows the prefix.
    pub environment: Option<String>,
    /// The short commit sha, when the template has one.
    pub sha7: Option<String>,
    /// When the image entered the environment, when the template has a timestamp or date.
    pub timestamp: Option<DateTime<Utc>>,
    /// Whether this is the environment's moving `-latest` tag.
    pub latest: bool,
}

/// Tag templates compiled once for a policy: renders tags for an event and parses them back.
#[derive(Debug, Clone)]
pub struct TagScheme {
    template: String,
    parts: Vec<Part>,
    latest: Option<(String, Vec<Part>)>,
    semver: bool,
    /// (prefix, environment name), longest prefix first so `prod-eu` wins over `prod`.
    prefixes: Vec<(String, String)>,
    /// Compiled on first `parse`: rendering alone (`gitops tag`) never pays for it.
    version_re: OnceLock<Regex>,
    latest_re: OnceLock<Option<Regex>>,
}

impl TagScheme {
    /// Compiles the policy's tag templates.
    pub fn new(policy: &Policy) -> Result<Self, TagError> {
        let prefixes: Vec<(String, String)> = policy
            .environments
            .iter()
            .map(|(name, env)| (env.tag_prefix.clone(), name.clone()))
            .collect();
        Self::from_parts(&policy.tags, prefixes)
    }

    /// Compiles tag templates for explicit `(prefix, environment)` pairs.
    pub fn from_parts(
        tags: &TagPolicy,
        mut prefixes: Vec<(String, String)>,
    ) -> Result<Self, TagError> {
        prefixes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        let parts = compile(&tags.template)?;
        let latest = match &tags.latest {
            Some(t) => Some((t.clone(), compile(t)?)),
            None => None,
        };
        Ok(Self {
            template: tags.template.clone(),
            parts,
            latest,
            semver: tags.semver,
            prefixes,
            version_re: OnceLock::new(),
            latest_re: OnceLock::new(),
        })
    }

    /// Whether `X.Y.Z` tags are produced for version tag pushes.
    pub fn semver_enabled(&self) -> bool {
        self.semver
    }

    /// Renders the immutable tag and the moving tag for one environment.
    ///
    /// ```
    /// use chrono::TimeZone;
    /// use gitops_core::{policy::Policy, tag::{TagInput, TagScheme}};
    /// let scheme = TagScheme::new(&Policy::embedded_default()).unwrap();
    /// let tags = scheme.render(&TagInput {
    ///     environment: "development",
    ///     prefix: "dev",
    ///     sha: "860c1904a1ce19322e91ac35af1ab07466440c37",
    ///     time: chrono::Utc.with_ymd_and_hms(2025, 12, 3, 12, 0, 0).unwrap(),
    ///     branch: Some("dev"),
    /// }).unwrap();
    /// assert_eq!(tags.all(), ["dev-860c190-20251203-120000", "dev-latest"]);
    /// ```
    pub fn render(&self, input: &TagInput<'_>) -> Result<EnvironmentTags, TagError> {
        let version = render(&self.template, &self.parts, input)?;
        let latest = match &self.latest {
            Some((template, parts)) => Some(render(template, parts, input)?),
            None => None,
        };
        Ok(EnvironmentTags { version, latest })
    }

    /// Reads a tag back into (prefix, short sha, timestamp); `None` when it does not follow
    /// the policy's templates (retention keeps such tags).
    ///
    /// ```
    /// use gitops_core::{policy::Policy, tag::TagScheme};
    /// let scheme = TagScheme::new(&Policy::embedded_default()).unwrap();
    /// let parsed = scheme.parse("prod-a1b2c3d-20251203-160000").unwrap();
    /// assert_eq!(parsed.environment.as_deref(), Some("production"));
    /// assert_eq!(parsed.sha7.as_deref(), Some("a1b2c3d"));
    /// assert!(scheme.parse("latest").is_none());
    /// ```
    pub fn parse(&self, tag: &str) -> Option<ParsedTag> {
        let latest_re = self.latest_re.get_or_init(|| {
            self.latest
                .as_ref()
                .map(|(_, parts)| parse_regex(parts, &self.prefixes))
        });
        if let Some(caps) = latest_re.as_ref().and_then(|re| re.captures(tag)) {
            return self.to_parsed(&caps, true);
        }
        let version_re = self
            .version_re
            .get_or_init(|| parse_regex(&self.parts, &self.prefixes));
        let caps = version_re.captures(tag)?;
        self.to_parsed(&caps, false)
    }

    fn to_parsed(&self, caps: &regex::Captures<'_>, latest: bool) -> Option<ParsedTag> {
        let prefix = caps.name("prefix").map(|m| m.as_str().to_owned());
        let env = caps.name("env").map(|m| m.as_str().to_owned());
        let (prefix, environment) = match (prefix, env) {
            (Some(p), _) => {
                let env = self
                    .prefixes
                    .iter()
                    .find(|(q, _)| *q == p)
                    .map(|(_, e)| e.clone());
                (p, env)
            }
            (None, Some(e)) => {
                let found = self
                    .prefixes
                    .iter()
                    .find(|(_, n)| sanitize_component(n) == e)?;
                (found.0.clone(), Some(found.1.clone()))
            }
            (None, None) => return None,
        };
        let sha7 = caps
            .name("sha7")
            .map(|m| m.as_str().to_owned())
            .or_else(|| caps.name("sha").map(|m| m.as_str()[..7].to_owned()));
        let timestamp = match (caps.name("timestamp"), caps.name("date")) {
            (Some(ts), _) => Some(
                NaiveDateTime::parse_from_str(ts.as_str(), TIMESTAMP_FORMAT)
                    .ok()?
                    .and_utc(),
            ),
            (None, Some(d)) => Some(
                chrono::NaiveDate::parse_from_str(d.as_str(), "%Y%m%d")
                    .ok()?
                    .and_hms_opt(0, 0, 0)?
                    .and_utc(),
            ),
            (None, None) => None,
        };
        Some(ParsedTag {
            prefix,
            environment,
            sha7,
            timestamp,
            latest,
        })
    }
}

fn parse_regex(parts: &[Part], prefixes: &[(String, String)]) -> Regex {
    let alternation = |items: Vec<String>| {
        if items.is_empty() {
            "(?!)".to_owned()
        } else {
            items.join("|")
        }
    };
    let prefix_alt = alternation(prefixes.iter().map(|(p, _)| regex::escape(p)).collect());
    let env_alt = alternation(
        prefixes
            .iter()
            .map(|(_, e)| regex::escape(&sanitize_component(e)))
            .collect(),
    );
    let mut pattern = String::from("^");
    let (mut seen_prefix, mut seen_env) = (false, false);
    for part in parts {
        let piece = match part {
            Part::Literal(text) => regex::escape(text),
            Part::Prefix if !seen_prefix => {
                seen_prefix = true;
                format!("(?P<prefix>{prefix_alt})")
            }
            Part::Prefix => format!("(?:{prefix_alt})"),
            Part::Env if !seen_env => {
                seen_env = true;
                format!("(?P<env>{env_alt})")
            }
            Part::Env => format!("(?:{env_alt})"),
            Part::Sha7 => "(?P<sha7>[0-9a-f]{7})".to_owned(),
            Part::Sha => "(?P<sha>[0-9a-f]{40})".to_owned(),
            Part::Timestamp => r"(?P<timestamp>[0-9]{8}-[0-9]{6})".to_owned(),
            Part::Date => r"(?P<date>[0-9]{8})".to_owned(),
            Part::Branch => "[a-z0-9._-]+".to_owned(),
        };
        pattern.push_str(&piece);
    }
    pattern.push('$');
    // Every piece is escaped or a fixed pattern, so compilation cannot fail; fall back to a
    // never-matching pattern rather than panicking.
    Regex::new(&pattern).unwrap_or_else(|_| unreachable_regex())
}

#[allow(clippy::expect_used)]
fn unreachable_regex() -> Regex {
    Regex::new("^$").expect("trivial regex compiles")
}

/// Tags for a `vX.Y.Z` git tag: `X.Y.Z`, `X.Y`, `X` (only `X.Y.Z` for pre-releases; no `0`).
///
/// ```
/// assert_eq!(gitops_core::tag::semver_tags("v1.2.3").unwrap(), ["1.2.3", "1.2", "1"]);
/// assert_eq!(gitops_core::tag::semver_tags("v2.0.0-rc.1").unwrap(), ["2.0.0-rc.1"]);
/// ```
pub fn semver_tags(git_tag: &str) -> Result<Vec<String>, TagError> {
    let text = git_tag.strip_prefix('v').unwrap_or(git_tag);
    let version = semver::Version::parse(text).map_err(|e| TagError::InvalidVersion {
        version: git_tag.to_owned(),
        reason: e.to_string(),
    })?;
    // `+` (build metadata) is not allowed in OCI tags; registries conventionally use `_`.
    let full = version.to_string().replace('+', "_");
    if !is_valid_tag(&full) {
        return Err(TagError::InvalidTag { tag: full });
    }
    if !version.pre.is_empty() {
        return Ok(vec![full]);
    }
    let mut tags = vec![full, format!("{}.{}", version.major, version.minor)];
    if version.major > 0 {
        tags.push(version.major.to_string());
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn scheme() -> TagScheme {
        TagScheme::new(&Policy::embedded_default()).expect("test input is valid")
    }

    fn input(sha: &str) -> TagInput<'_> {
        TagInput {
            environment: "development",
            prefix: "dev",
            sha,
            time: Utc
                .with_ymd_and_hms(2025, 12, 3, 12, 0, 0)
                .single()
                .expect("valid time"),
            branch: Some("dev"),
        }
    }

    #[test]
    fn renders_the_documented_tags() {
        let tags = scheme()
            .render(&input("860c1904a1ce19322e91ac35af1ab07466440c37"))
            .expect("test input is valid");
        assert_eq!(tags.all(), ["dev-860c190-20251203-120000", "dev-latest"]);
    }

    #[test]
    fn rejects_bad_shas() {
        for sha in ["abc", "zzzzzzz", "", "860c19-"] {
            assert!(
                matches!(
                    scheme().render(&input(sha)),
                    Err(TagError::InvalidSha { .. })
                ),
                "{sha}"
            );
        }
    }

    #[test]
    fn round_trips() {
        let s = scheme();
        let tags = s
            .render(&input("860c1904a1ce19322e91ac35af1ab07466440c37"))
            .expect("test input is valid");
        let parsed = s.parse(&tags.version).expect("test input is valid");
        assert_eq!(parsed.prefix, "dev");
        assert_eq!(parsed.environment.as_deref(), Some("development"));
        assert_eq!(parsed.sha7.as_deref(), Some("860c190"));
        assert_eq!(
            parsed.timestamp,
            Some(
                Utc.with_ymd_and_hms(2025, 12, 3, 12, 0, 0)
                    .single()
                    .expect("valid time")
            )
        );
        assert!(!parsed.latest);
        let latest = s.parse("prod-latest").expect("test input is valid");
        assert!(latest.latest);
        assert_eq!(latest.environment.as_deref(), Some("production"));
    }

    #[test]
    fn does_not_parse_foreign_tags() {
        let s = scheme();
        for tag in [
            "latest",
            "v1.2.3",
            "dev-xyz",
            "qa-860c190-20251203-120000",
            "dev-860c190-20251399-120000",
        ] {
            assert!(s.parse(tag).is_none(), "{tag}");
        }
    }

    #[test]
    fn custom_templates_with_branch() {
        let tags = TagPolicy {
            template: "{branch}-{sha7}".into(),
            latest: None,
            semver: false,
        };
        let s = TagScheme::from_parts(&tags, vec![("dev".into(), "development".into())])
            .expect("test input is valid");
        let mut i = input("860c1904a1ce19322e91ac35af1ab07466440c37");
        i.branch = Some("Feature/Big Thing");
        assert_eq!(
            s.render(&i).expect("test input is valid").all(),
            ["feature-big-thing-860c190"]
        );
        i.branch = Some("///");
        assert!(matches!(s.render(&i), Err(TagError::MissingBranch { .. })));
    }

    #[test]
    fn unknown_placeholder_is_an_error() {
        let tags = TagPolicy {
            template: "{prefix}-{shaa}".into(),
            latest: None,
            semver: false,
        };
        assert!(matches!(
            TagScheme::from_parts(&tags, vec![]),
            Err(TagError::UnknownPlaceholder { .. })
        ));
    }

    #[test]
    fn semver() {
        assert_eq!(
            semver_tags("v0.3.1").expect("test input is valid"),
            ["0.3.1", "0.3"]
        );
        assert!(semver_tags("v1.2").is_err());
        assert_eq!(
            semver_tags("1.0.0+build.5").expect("test input is valid"),
            ["1.0.0_build.5", "1.0", "1"]
        );
    }
}
