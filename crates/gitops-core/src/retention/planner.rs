//! The pure retention planner: inventory + policy + `now` + deployed digests -> plan.

use std::fmt;
use std::hash::{BuildHasher, Hasher};

use chrono::{DateTime, TimeDelta, Utc};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Serialize, Serializer};

use crate::duration::HumanDuration;
use crate::policy::{Policy, UntaggedAction};
use crate::tag::TagScheme;

/// Hash maps keyed by interned digest numbers and digest text: a multiply-rotate hash (the
/// one rustc uses) instead of SipHash, which costs a third of the planner's time at a million
/// tags. Keys come from one registry listing, so flooding is not a concern here.
type HashMap<K, V> = std::collections::HashMap<K, V, FastHash>;
type HashSet<K> = std::collections::HashSet<K, FastHash>;

#[derive(Debug, Clone, Copy, Default)]
struct FastHash;

impl BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn finish(&self) -> u64 {
        // The multiply only carries bits upwards: digests differing in their last characters
        // would all land in the same buckets without this final mix (splitmix64).
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }
}

/// Why a retention plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A `retention.protected` pattern is not a valid glob.
    #[error(
        "retention.protected pattern '{pattern}' is not a valid glob; fix it in gitops.yaml (e.g. 'v*' or 'release-*')"
    )]
    BadPattern {
        /// The pattern as written.
        pattern: String,
        /// The glob parser's error.
        #[source]
        source: globset::Error,
    },
    /// The protected patterns could not be compiled together.
    #[error("retention.protected patterns could not be compiled; check them in gitops.yaml")]
    PatternSet {
        /// The glob compiler's error.
        #[source]
        source: globset::Error,
    },
}

/// One tag of the repository and the digest it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagRecord {
    /// The tag name.
    pub tag: String,
    /// The manifest digest it points at (`sha256:...`).
    pub digest: String,
    /// When the backend says the tag was pushed, if it knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed_at: Option<DateTime<Utc>>,
}

/// What is known about one manifest: its children, its subject, its size.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ManifestRecord {
    /// The manifest digest.
    pub digest: String,
    /// Manifests an index (or Docker manifest list) refers to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<String>,
    /// The `subject` of an OCI referrer (signature, attestation, SBOM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Bytes of the manifest's config and layers, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// When the backend says it was pushed, if it knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed_at: Option<DateTime<Utc>>,
}

/// Everything a backend found in one repository.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Inventory {
    /// The repository (`registry.example.com/team/backend`).
    pub repository: String,
    /// Every tag with its digest.
    pub tags: Vec<TagRecord>,
    /// Manifests whose relations or sizes are known, tagged or not. Digests that appear only
    /// here (no tag) are the untagged manifests.
    pub manifests: Vec<ManifestRecord>,
}

/// A digest an environment's overlay deploys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeployedDigest {
    /// The environment whose overlay names it.
    pub environment: String,
    /// The digest (tags in the overlay are resolved before planning).
    pub digest: String,
}

/// What happens to a tag or manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Kept.
    Keep,
    /// Deleted by this run.
    Delete,
    /// Due for deletion, but left for a later run (`max_deletions` reached or something it
    /// depends on is deferred).
    Deferred,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Keep => "keep",
            Self::Delete => "delete",
            Self::Deferred => "deferred",
        })
    }
}

/// The kind of an artefact that refers to a subject digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReferrerKind {
    /// A cosign `sha256-<hex>.sig` tag.
    Signature,
    /// A cosign `sha256-<hex>.att` tag.
    Attestation,
    /// A cosign `sha256-<hex>.sbom` tag.
    Sbom,
    /// An OCI referrer (manifest with a `subject`).
    Referrer,
}

impl fmt::Display for ReferrerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Signature => "signature",
            Self::Attestation => "attestation",
            Self::Sbom => "sbom",
            Self::Referrer => "referrer",
        })
    }
}

/// Why a tag or manifest is kept or deleted. Displayed as the plan's reason column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The environment's moving `-latest` tag.
    Latest,
    /// The digest is referenced by an environment's overlay.
    Deployed {
        /// The environment.
        environment: String,
    },
    /// The tag matches a `retention.protected` glob.
    Protected {
        /// The matching pattern.
        pattern: String,
    },
    /// The tag does not follow the policy's templates.
    Unparseable,
    /// The tag's prefix names no environment of the policy.
    UnknownEnvironment,
    /// Neither the tag nor the backend gives an age.
    UnknownAge,
    /// Younger than the environment's `max_age`.
    WithinMaxAge {
        /// The environment's `max_age`.
        max_age: HumanDuration,
    },
    /// Among the `keep_min` newest images of the environment.
    KeepMin {
        /// The environment's `keep_min`.
        keep_min: u32,
    },
    /// Due itself, but its digest carries a kept tag.
    SharesDigest {
        /// The kept tag.
        tag: String,
    },
    /// The digest is a child of a kept index.
    IndexChild {
        /// The kept index: one of its tags, else its digest.
        parent: String,
    },
    /// The digest refers to a kept subject.
    ReferrerOfKept {
        /// Signature, attestation, SBOM or OCI referrer.
        kind: ReferrerKind,
        /// The kept subject digest.
        subject: String,
    },
    /// A referrer tag whose subject is not in the repository: kept, it may be needed elsewhere.
    ReferrerOfUnknown {
        /// Signature, attestation, SBOM or OCI referrer.
        kind: ReferrerKind,
        /// The absent subject digest.
        subject: String,
    },
    /// An untagged manifest, kept because `retention.untagged` is `keep`.
    UntaggedKept,
    /// Older than the environment's `max_age`.
    Expired {
        /// The tag's age.
        age: TimeDelta,
        /// The environment's `max_age`.
        max_age: HumanDuration,
    },
    /// A referrer whose subject is deleted by this plan.
    ReferrerOfDeleted {
        /// Signature, attestation, SBOM or OCI referrer.
        kind: ReferrerKind,
        /// The deleted subject digest.
        subject: String,
    },
    /// An untagged manifest nothing kept refers to (`retention.untagged: delete`).
    UntaggedUnreferenced,
}

/// Machine-readable name of a [`Reason`] (the `rule` field of the JSON plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// [`Reason::Latest`].
    Latest,
    /// [`Reason::Deployed`].
    Deployed,
    /// [`Reason::Protected`].
    Protected,
    /// [`Reason::Unparseable`].
    Unparseable,
    /// [`Reason::UnknownEnvironment`].
    UnknownEnvironment,
    /// [`Reason::UnknownAge`].
    UnknownAge,
    /// [`Reason::WithinMaxAge`].
    WithinMaxAge,
    /// [`Reason::KeepMin`].
    KeepMin,
    /// [`Reason::SharesDigest`].
    SharesDigest,
    /// [`Reason::IndexChild`].
    IndexChild,
    /// [`Reason::ReferrerOfKept`].
    ReferrerOfKept,
    /// [`Reason::ReferrerOfUnknown`].
    ReferrerOfUnknown,
    /// [`Reason::UntaggedKept`].
    UntaggedKept,
    /// [`Reason::Expired`].
    Expired,
    /// [`Reason::ReferrerOfDeleted`].
    ReferrerOfDeleted,
    /// [`Reason::UntaggedUnreferenced`].
    UntaggedUnreferenced,
}

impl Reason {
    /// The machine-readable rule.
    pub fn rule(&self) -> Rule {
        match self {
            Self::Latest => Rule::Latest,
            Self::Deployed { .. } => Rule::Deployed,
            Self::Protected { .. } => Rule::Protected,
            Self::Unparseable => Rule::Unparseable,
            Self::UnknownEnvironment => Rule::UnknownEnvironment,
            Self::UnknownAge => Rule::UnknownAge,
            Self::WithinMaxAge { .. } => Rule::WithinMaxAge,
            Self::KeepMin { .. } => Rule::KeepMin,
            Self::SharesDigest { .. } => Rule::SharesDigest,
            Self::IndexChild { .. } => Rule::IndexChild,
            Self::ReferrerOfKept { .. } => Rule::ReferrerOfKept,
            Self::ReferrerOfUnknown { .. } => Rule::ReferrerOfUnknown,
            Self::UntaggedKept => Rule::UntaggedKept,
            Self::Expired { .. } => Rule::Expired,
            Self::ReferrerOfDeleted { .. } => Rule::ReferrerOfDeleted,
            Self::UntaggedUnreferenced => Rule::UntaggedUnreferenced,
        }
    }

    /// Whether this reason makes a tag due for deletion (rather than kept).
    pub fn is_due(&self) -> bool {
        matches!(
            self,
            Self::Expired { .. } | Self::ReferrerOfDeleted { .. } | Self::UntaggedUnreferenced
        )
    }

    /// Rank used to pick the kept tag named in "shares digest with kept tag X": lower wins.
    fn anchor_rank(&self) -> u8 {
        match self {
            Self::Latest => 0,
            Self::Deployed { .. } => 1,
            Self::Protected { .. } => 2,
            Self::WithinMaxAge { .. } => 3,
            Self::KeepMin { .. } => 4,
            Self::Unparseable | Self::UnknownEnvironment | Self::UnknownAge => 5,
            _ => 6,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Latest => f.write_str("latest"),
            Self::Deployed { environment } => write!(f, "deployed in {environment} overlay"),
            Self::Protected { pattern } => write!(f, "protected pattern {pattern}"),
            Self::Unparseable => f.write_str("unparseable tag name"),
            Self::UnknownEnvironment => f.write_str("prefix of no environment"),
            Self::UnknownAge => f.write_str("age unknown"),
            Self::WithinMaxAge { max_age } => write!(f, "within {max_age}"),
            Self::KeepMin { keep_min } => write!(f, "keep_min ({keep_min} newest)"),
            Self::SharesDigest { tag } => write!(f, "shares digest with kept tag {tag}"),
            Self::IndexChild { parent } => write!(f, "index child of kept {parent}"),
            Self::ReferrerOfKept { kind, subject } => {
                write!(f, "{kind} of kept digest {}", short_digest(subject))
            }
            Self::ReferrerOfUnknown { kind, subject } => {
                write!(f, "{kind} of absent digest {}", short_digest(subject))
            }
            Self::UntaggedKept => f.write_str("untagged (retention.untagged: keep)"),
            Self::Expired { age, max_age } => write!(
                f,
                "expired: {} > {max_age}",
                HumanDuration::display_age(*age)
            ),
            Self::ReferrerOfDeleted { kind, subject } => {
                write!(f, "{kind} of deleted digest {}", short_digest(subject))
            }
            Self::UntaggedUnreferenced => f.write_str("untagged, nothing kept refers to it"),
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `sha256:0123456789ab` (algorithm and 12 hex characters) for reasons and tables.
pub fn short_digest(digest: &str) -> &str {
    let end = digest.find(':').map_or(0, |i| i + 1) + 12;
    digest.get(..end).unwrap_or(digest)
}

/// The decision for one tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagDecision {
    /// The tag.
    pub tag: String,
    /// Its digest.
    pub digest: String,
    /// The environment the tag belongs to, when its name says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Keep, delete or deferred.
    pub action: Action,
    /// Machine-readable rule.
    pub rule: Rule,
    /// Why, for a person.
    pub reason: Reason,
}

/// The decision for one untagged manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestDecision {
    /// The manifest digest.
    pub digest: String,
    /// Keep, delete or deferred.
    pub action: Action,
    /// Machine-readable rule.
    pub rule: Rule,
    /// Why, for a person.
    pub reason: Reason,
}

/// One digest to delete and the tags that go with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deletion {
    /// The manifest digest.
    pub digest: String,
    /// The tags pointing at it when planned (empty: untagged manifest).
    pub tags: Vec<String>,
    /// Bytes of config and layers when known (an upper bound of what garbage collection frees:
    /// layers shared with kept images stay).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Digests that must be deleted first (the index listing it, the subject it signs); if
    /// one of them is not deleted, neither is this one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

/// Kept/deleted counts of one environment (or `(other)` for tags of no environment).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EnvironmentCounts {
    /// The environment's name, or `(other)`.
    pub environment: String,
    /// Tags kept.
    pub kept: usize,
    /// Tags deleted by this run.
    pub deleted: usize,
    /// Tags due but deferred to a later run.
    pub deferred: usize,
}

/// The result of planning: a decision and reason for every tag and untagged manifest, and the
/// digests to delete in execution order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionPlan {
    /// The repository.
    pub repository: String,
    /// The time the plan was made for.
    pub now: DateTime<Utc>,
    /// The cap on digest deletions used.
    pub max_deletions: u32,
    /// Every tag, sorted by environment then name.
    pub tags: Vec<TagDecision>,
    /// Every untagged manifest.
    pub untagged: Vec<ManifestDecision>,
    /// Digests to delete, in order (an index before its children).
    pub deletions: Vec<Deletion>,
    /// Digests due but left for a later run.
    pub deferred: Vec<Deletion>,
    /// Tag counts per environment, in policy order, then `(other)`.
    pub environments: Vec<EnvironmentCounts>,
}

impl RetentionPlan {
    /// Bytes the deletions free at most, and whether every deleted digest's size is known.
    pub fn bytes_freed(&self) -> (u64, bool) {
        let mut total = 0u64;
        let mut complete = true;
        for d in &self.deletions {
            match d.size {
                Some(s) => total = total.saturating_add(s),
                None => complete = false,
            }
        }
        (total, complete)
    }

    /// The decision for a tag, if the plan lists it.
    pub fn tag(&self, tag: &str) -> Option<&TagDecision> {
        self.tags.iter().find(|t| t.tag == tag)
    }
}

/// Everything the planner needs.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The policy (per-environment and global retention rules).
    pub policy: &'a Policy,
    /// The policy's compiled tag templates.
    pub scheme: &'a TagScheme,
    /// Current time.
    pub now: DateTime<Utc>,
    /// Tags and manifests of the repository.
    pub inventory: &'a Inventory,
    /// Digests the GitOps overlays reference.
    pub deployed: &'a [DeployedDigest],
    /// Overrides `retention.max_deletions`.
    pub max_deletions: Option<u32>,
}

/// Tags plus due digests from which a plan's two output halves are built on two threads.
const PARALLEL_FROM: usize = 50_000;

/// The name used for tags that belong to no environment in per-environment counts.
pub const OTHER_ENVIRONMENT: &str = "(other)";

/// `sha256-<64 hex>.sig|.att|.sbom` -> (subject digest, kind).
pub fn parse_referrer_tag(tag: &str) -> Option<(String, ReferrerKind)> {
    let rest = tag.strip_prefix("sha256-")?;
    let (hex, ext) = rest.split_once('.')?;
    let kind = match ext {
        "sig" => ReferrerKind::Signature,
        "att" => ReferrerKind::Attestation,
        "sbom" => ReferrerKind::Sbom,
        _ => return None,
    };
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Some((format!("sha256:{}", hex.to_ascii_lowercase()), kind))
    } else {
        None
    }
}

/// A tag read back for retention: its environment (index in the policy), whether it is the
/// moving tag, and its timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TagFacts {
    env: Option<usize>,
    latest: bool,
    timestamp: Option<DateTime<Utc>>,
}

/// Reads tags as [`TagScheme::parse`] does, with a hand-written fast path for the default
/// templates (`{prefix}-{sha7}-{timestamp}`, `{prefix}-latest`): a million tags must plan in
/// well under a second, and regex captures plus chrono's format parser cost microseconds.
struct TagReader<'a> {
    scheme: &'a TagScheme,
    policy: &'a Policy,
    /// (prefix, environment index), longest prefix first, like the scheme.
    fast: Option<Vec<(&'a str, usize)>>,
}

impl<'a> TagReader<'a> {
    fn new(policy: &'a Policy, scheme: &'a TagScheme) -> Self {
        let default = policy.tags.template == "{prefix}-{sha7}-{timestamp}"
            && policy.tags.latest.as_deref() == Some("{prefix}-latest");
        let fast = default.then(|| {
            let mut prefixes: Vec<(&str, usize)> = policy
                .environments
                .values()
                .enumerate()
                .map(|(i, env)| (env.tag_prefix.as_str(), i))
                .collect();
            prefixes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(b.0)));
            prefixes
        });
        Self {
            scheme,
            policy,
            fast,
        }
    }

    fn read(&self, tag: &str) -> Option<TagFacts> {
        match &self.fast {
            Some(prefixes) => read_default(prefixes, tag),
            None => self.scheme.parse(tag).map(|p| TagFacts {
                env: p
                    .environment
                    .as_deref()
                    .and_then(|name| self.policy.environments.get_index_of(name)),
                latest: p.latest,
                timestamp: p.timestamp,
            }),
        }
    }
}

fn read_default(prefixes: &[(&str, usize)], tag: &str) -> Option<TagFacts> {
    // The scheme tries the moving tag (every prefix) before the immutable one.
    for &(prefix, env) in prefixes {
        if tag.len() == prefix.len() + 7
            && tag.starts_with(prefix)
            && &tag[prefix.len()..] == "-latest"
        {
            return Some(TagFacts {
                env: Some(env),
                latest: true,
                timestamp: None,
            });
        }
    }
    for &(prefix, env) in prefixes {
        // `-` + 7 hex + `-` + YYYYMMDD + `-` + HHMMSS
        let Some(rest) = tag.strip_prefix(prefix) else {
            continue;
        };
        let b = rest.as_bytes();
        if b.len() != 1 + 7 + 1 + 8 + 1 + 6
            || b[0] != b'-'
            || !b[1..8]
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
            || b[8] != b'-'
            || !b[9..17].iter().all(u8::is_ascii_digit)
            || b[17] != b'-'
            || !b[18..24].iter().all(u8::is_ascii_digit)
        {
            continue;
        }
        let num =
            |r: std::ops::Range<usize>| b[r].iter().fold(0u32, |n, c| n * 10 + u32::from(c - b'0'));
        let (sec, min, hour) = (num(22..24), num(20..22), num(18..20));
        let timestamp = if sec < 60 {
            chrono::NaiveDate::from_ymd_opt(
                i32::try_from(num(9..13)).ok()?,
                num(13..15),
                num(15..17),
            )
            .and_then(|d| d.and_hms_opt(hour, min, sec))
            .map(|t| t.and_utc())
        } else {
            // Leap seconds and other oddities: exactly what the scheme's parser says.
            chrono::NaiveDateTime::parse_from_str(&rest[9..], crate::tag::TIMESTAMP_FORMAT)
                .ok()
                .map(|t| t.and_utc())
        };
        // A valid shape with an impossible date does not parse under the scheme either.
        return timestamp.map(|t| TagFacts {
            env: Some(env),
            latest: false,
            timestamp: Some(t),
        });
    }
    None
}

/// Per-tag state while planning.
enum Stage {
    /// Kept for a reason of its own.
    Anchor(Reason),
    /// Due for deletion (expired), unless its digest is kept.
    Due(Reason),
    /// A cosign referrer tag: decided after the closure.
    Referrer(ReferrerKind, String),
}

/// Why a digest is in the kept closure.
#[derive(Clone)]
enum Via {
    Tag(usize),
    Deployed(String),
    Child(u32),
    Referrer(ReferrerKind, u32),
    Untagged,
}

struct Digests<'a> {
    index: HashMap<&'a str, u32>,
    names: Vec<&'a str>,
}

impl<'a> Digests<'a> {
    fn with_capacity(n: usize) -> Self {
        Self {
            index: HashMap::with_capacity_and_hasher(n, FastHash),
            names: Vec::with_capacity(n),
        }
    }

    fn id(&mut self, digest: &'a str) -> u32 {
        // One hash per digest, whether it is new or not.
        let next = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        let id = *self.index.entry(digest).or_insert(next);
        if id == next {
            self.names.push(digest);
        }
        id
    }

    fn id_lookup(&self, digest: &str) -> Option<u32> {
        self.index.get(digest).copied()
    }
}

/// Plans retention for one repository. Pure: the same input always gives the same plan,
/// whatever order the inventory lists the tags in. For 50,000 tags and more, part of the
/// output is built on a second (scoped) thread; the result is identical.
///
/// ```
/// use chrono::TimeZone;
/// use gitops_core::{policy::Policy, retention::*, tag::TagScheme};
/// let policy = Policy::embedded_default();
/// let scheme = TagScheme::new(&policy).unwrap();
/// let now = chrono::Utc.with_ymd_and_hms(2025, 12, 20, 0, 0, 0).unwrap();
/// let tag = |t: &str, d: &str| TagRecord { tag: t.into(), digest: d.into(), pushed_at: None };
/// let inventory = Inventory {
///     repository: "r/backend".into(),
///     tags: vec![tag("dev-aaaaaaa-20251201-000000", "sha256:a"), tag("dev-latest", "sha256:a"),
///                tag("dev-bbbbbbb-20251101-000000", "sha256:b")],
///     manifests: vec![],
/// };
/// let plan = plan(&PlanInput { policy: &policy, scheme: &scheme, now, inventory: &inventory,
///     deployed: &[], max_deletions: None }).unwrap();
/// // 19 days old, past development's 7d, but among the 3 newest images (`keep_min`).
/// assert_eq!(plan.tag("dev-aaaaaaa-20251201-000000").unwrap().reason.to_string(),
///            "keep_min (3 newest)");
/// assert_eq!(plan.deletions.len(), 0); // keep_min 3 keeps the older one too
/// ```
pub fn plan(input: &PlanInput<'_>) -> Result<RetentionPlan, PlanError> {
    let policy = input.policy;
    let inventory = input.inventory;
    let protected = compile_protected(&policy.retention.protected)?;
    let max_deletions = input
        .max_deletions
        .unwrap_or(policy.retention.max_deletions);

    // Intern digests so the graph work below runs on integers.
    let mut digests = Digests::with_capacity(inventory.tags.len() / 2 + inventory.manifests.len());
    let tag_digest: Vec<u32> = inventory
        .tags
        .iter()
        .map(|t| digests.id(t.digest.as_str()))
        .collect();
    let mut manifest_of: HashMap<u32, usize> =
        HashMap::with_capacity_and_hasher(inventory.manifests.len(), FastHash);
    for (i, m) in inventory.manifests.iter().enumerate() {
        let id = digests.id(m.digest.as_str());
        manifest_of.entry(id).or_insert(i);
    }
    // Relations: children, parents, referrers (subject -> referrer digests).
    let mut children: HashMap<u32, Vec<u32>> = HashMap::default();
    let mut parents: HashMap<u32, Vec<u32>> = HashMap::default();
    let mut referrers: HashMap<u32, Vec<(ReferrerKind, u32)>> = HashMap::default();
    let mut subject_of: HashMap<u32, Vec<u32>> = HashMap::default();
    for m in &inventory.manifests {
        let id = digests.id(m.digest.as_str());
        for c in &m.children {
            let cid = digests.id(c.as_str());
            children.entry(id).or_default().push(cid);
            parents.entry(cid).or_default().push(id);
        }
        if let Some(s) = &m.subject {
            let sid = digests.id(s.as_str());
            referrers
                .entry(sid)
                .or_default()
                .push((ReferrerKind::Referrer, id));
            subject_of.entry(id).or_default().push(sid);
        }
    }
    // Digests the repository has: tagged ones, listed manifests and index children.
    let mut known = vec![false; digests.names.len()];
    for &did in &tag_digest {
        known[did as usize] = true;
    }
    for m in &inventory.manifests {
        for digest in std::iter::once(&m.digest).chain(m.children.iter()) {
            if let Some(id) = digests.id_lookup(digest) {
                known[id as usize] = true;
            }
        }
    }

    // Every environment deploying a digest, in input order: a tag names its own environment
    // when that one deploys it (`prod-...: deployed in production overlay`).
    let mut deployed: HashMap<u32, Vec<&str>> = HashMap::default();
    for d in input.deployed {
        let id = digests.id(d.digest.as_str());
        let envs = deployed.entry(id).or_default();
        if !envs.contains(&d.environment.as_str()) {
            envs.push(d.environment.as_str());
        }
    }

    // Stage 1: each tag on its own.
    let reader = TagReader::new(policy, input.scheme);
    let mut environment: Vec<Option<usize>> = Vec::with_capacity(inventory.tags.len());
    let mut stages: Vec<Stage> = Vec::with_capacity(inventory.tags.len());
    // (time, digest) of the dated, non-latest tags per environment, for keep_min.
    let mut dated: Vec<Vec<(DateTime<Utc>, u32)>> = vec![Vec::new(); policy.environments.len()];
    // Tags whose stage depends on keep_min: (tag index, time).
    let mut pending_expired: Vec<(usize, DateTime<Utc>)> = Vec::new();
    for (i, record) in inventory.tags.iter().enumerate() {
        let did = tag_digest[i];
        let tag = record.tag.as_str();
        if let Some(pattern) = protected.as_ref().and_then(|p| p.find(tag)) {
            let pattern = pattern.to_owned();
            let env = reader.read(tag).and_then(|p| p.env);
            environment.push(env);
            stages.push(Stage::Anchor(Reason::Protected { pattern }));
            continue;
        }
        if let Some((subject, kind)) = parse_referrer_tag(tag) {
            let sid = digests.id_lookup(&subject);
            environment.push(None);
            stages.push(match sid {
                Some(sid) => {
                    referrers.entry(sid).or_default().push((kind, did));
                    Stage::Referrer(kind, subject)
                }
                None => Stage::Anchor(Reason::ReferrerOfUnknown { kind, subject }),
            });
            continue;
        }
        let Some(parsed) = reader.read(tag) else {
            environment.push(None);
            stages.push(Stage::Anchor(Reason::Unparseable));
            continue;
        };
        let env_index = parsed.env;
        environment.push(env_index);
        let Some(env_index) = env_index else {
            stages.push(Stage::Anchor(Reason::UnknownEnvironment));
            continue;
        };
        let env = &policy.environments[env_index];
        if parsed.latest && env.retention.keep_latest {
            stages.push(Stage::Anchor(Reason::Latest));
            continue;
        }
        if let Some(envs) = deployed.get(&did) {
            let own = policy
                .environments
                .get_index(env_index)
                .map(|(name, _)| name.as_str());
            let environment = envs
                .iter()
                .copied()
                .find(|e| Some(*e) == own)
                .unwrap_or(envs[0]);
            stages.push(Stage::Anchor(Reason::Deployed {
                environment: environment.to_owned(),
            }));
            continue;
        }
        let time = parsed.timestamp.or(record.pushed_at).or_else(|| {
            manifest_of
                .get(&did)
                .and_then(|&m| inventory.manifests[m].pushed_at)
        });
        let Some(time) = time else {
            stages.push(Stage::Anchor(Reason::UnknownAge));
            continue;
        };
        if !parsed.latest {
            dated[env_index].push((time, did));
        }
        let max_age = env.retention.max_age;
        let age = input.now.signed_duration_since(time);
        if age <= max_age.as_chrono() {
            stages.push(Stage::Anchor(Reason::WithinMaxAge { max_age }));
        } else {
            pending_expired.push((i, time));
            stages.push(Stage::Due(Reason::Expired { age, max_age }));
        }
    }

    // keep_min: the newest `keep_min` distinct digests of each environment.
    let keep_min: Vec<HashSet<u32>> = dated
        .iter_mut()
        .enumerate()
        .map(|(env_index, list)| {
            let n = policy.environments[env_index].retention.keep_min as usize;
            newest_digests(list, n, &digests.names)
        })
        .collect();
    for &(i, _) in &pending_expired {
        if let Some(env_index) = environment[i]
            && keep_min[env_index].contains(&tag_digest[i])
        {
            let keep_min = policy.environments[env_index].retention.keep_min;
            stages[i] = Stage::Anchor(Reason::KeepMin { keep_min });
        }
    }

    // Stage 2: the kept closure.
    let mut kept: Vec<Option<Via>> = vec![None; digests.names.len()];
    let mut work: Vec<u32> = Vec::new();
    let mut best_anchor: Vec<Option<usize>> = vec![None; digests.names.len()];
    for (i, stage) in stages.iter().enumerate() {
        if let Stage::Anchor(_) = stage {
            let did = tag_digest[i];
            let better = match best_anchor[did as usize] {
                Some(j) => {
                    let (a, b) = (anchor_of(&stages[i]), anchor_of(&stages[j]));
                    (a, inventory.tags[i].tag.as_str()) < (b, inventory.tags[j].tag.as_str())
                }
                None => true,
            };
            if better {
                best_anchor[did as usize] = Some(i);
            }
        }
    }
    // Seeded in input order so reasons never depend on hash order.
    for &did in &tag_digest {
        if let Some(i) = best_anchor[did as usize]
            && kept[did as usize].is_none()
        {
            kept[did as usize] = Some(Via::Tag(i));
            work.push(did);
        }
    }
    for d in input.deployed {
        let Some(did) = digests.id_lookup(&d.digest) else {
            continue;
        };
        if kept[did as usize].is_none() {
            kept[did as usize] = Some(Via::Deployed(d.environment.clone()));
            work.push(did);
        }
    }
    work.reverse();
    let mut tagged = vec![false; digests.names.len()];
    for &did in &tag_digest {
        tagged[did as usize] = true;
    }
    let untagged_ids: Vec<u32> = {
        let mut seen = HashSet::default();
        // Index children are manifests of the repository even without a record of their own.
        inventory
            .manifests
            .iter()
            .flat_map(|m| std::iter::once(&m.digest).chain(m.children.iter()))
            .filter_map(|digest| digests.id_lookup(digest))
            .filter(|id| !tagged[*id as usize] && seen.insert(*id))
            .collect()
    };
    if policy.retention.untagged == UntaggedAction::Keep {
        for &id in &untagged_ids {
            if kept[id as usize].is_none() {
                kept[id as usize] = Some(Via::Untagged);
                work.push(id);
            }
        }
    }
    close(&mut kept, &mut work, &children, &referrers, &digests.names);

    // Referrer tags whose subject is not kept: due when the subject is in the repository
    // (it is being deleted), kept otherwise.
    let mut due_referrer: Vec<usize> = Vec::new();
    for (i, stage) in stages.iter().enumerate() {
        if let Stage::Referrer(_, subject) = stage {
            let did = tag_digest[i];
            if kept[did as usize].is_some() {
                continue;
            }
            let subject_known = digests
                .id_lookup(subject)
                .is_some_and(|s| known.get(s as usize).copied().unwrap_or(false));
            if subject_known {
                due_referrer.push(i);
            } else {
                kept[did as usize] = Some(Via::Tag(i));
                work.push(did);
            }
        }
    }
    close(&mut kept, &mut work, &children, &referrers, &digests.names);

    // Stage 3: candidates = known digests outside the closure. Per-digest state lives in
    // vectors indexed by the interned number: a million hash lookups cost more than the
    // rest of this stage.
    let n = digests.names.len();
    let mut candidate_ids: Vec<u32> = Vec::new();
    let mut is_candidate = vec![false; n];
    let mut candidate_time: Vec<Option<DateTime<Utc>>> = vec![None; n];
    for (i, &did) in tag_digest.iter().enumerate() {
        if kept[did as usize].is_some() {
            continue;
        }
        if !is_candidate[did as usize] {
            is_candidate[did as usize] = true;
            candidate_ids.push(did);
        }
        if let Some(age) = pending_expired_time(&stages[i]) {
            let t = input.now - age;
            let slot = &mut candidate_time[did as usize];
            *slot = Some(slot.map_or(t, |old| old.max(t)));
        }
    }
    if policy.retention.untagged == UntaggedAction::Delete {
        for &id in &untagged_ids {
            if kept[id as usize].is_none() && !is_candidate[id as usize] {
                is_candidate[id as usize] = true;
                candidate_ids.push(id);
            }
        }
    }
    // Oldest first; the cap keeps the newest due images for a later run. Unknown times
    // last: they are the least sure to be old.
    let time_of = |id: u32| {
        candidate_time[id as usize].or_else(|| {
            manifest_of
                .get(&id)
                .and_then(|&m| inventory.manifests[m].pushed_at)
        })
    };
    let mut keyed: Vec<(bool, Option<DateTime<Utc>>, &str, u32)> = candidate_ids
        .iter()
        .map(|&id| {
            let t = time_of(id);
            (t.is_none(), t, digests.names[id as usize], id)
        })
        .collect();
    keyed.sort_unstable();
    let candidate_ids: Vec<u32> = keyed.into_iter().map(|k| k.3).collect();
    // What each candidate waits for: the index listing it, the subject it signs (an OCI
    // referrer or a cosign tag). Only candidates that have some are in the map.
    let mut deps_of: HashMap<u32, Vec<u32>> = HashMap::default();
    if !parents.is_empty() || !subject_of.is_empty() {
        for &id in &candidate_ids {
            let mut out: Vec<u32> = Vec::new();
            for list in [parents.get(&id), subject_of.get(&id)]
                .into_iter()
                .flatten()
            {
                out.extend(list.iter().copied().filter(|d| is_candidate[*d as usize]));
            }
            if !out.is_empty() {
                deps_of.insert(id, out);
            }
        }
    }
    // A referrer tag due because its subject is deleted depends on that subject.
    for &i in &due_referrer {
        if let Stage::Referrer(_, subject) = &stages[i]
            && let Some(sid) = digests.id_lookup(subject)
            && is_candidate[sid as usize]
        {
            deps_of.entry(tag_digest[i]).or_default().push(sid);
        }
    }
    let no_deps: &[u32] = &[];
    let deps = |id: u32| -> &[u32] {
        if deps_of.is_empty() {
            no_deps
        } else {
            deps_of.get(&id).map_or(no_deps, Vec::as_slice)
        }
    };
    let cap = max_deletions as usize;
    let mut selected = vec![false; n];
    for &id in candidate_ids.iter().take(cap) {
        selected[id as usize] = true;
    }
    // Defer whatever depends on a deferred digest, until nothing changes (bounded by the
    // number of candidates).
    let mut dependants: Vec<u32> = deps_of.keys().copied().collect();
    dependants.sort_unstable();
    for _ in 0..=dependants.len() {
        let mut changed = false;
        for &id in &dependants {
            if selected[id as usize] && deps(id).iter().any(|d| !selected[*d as usize]) {
                selected[id as usize] = false;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Execution order: a digest after everything it depends on (an index before its
    // children, a subject before its signatures); cycles are deferred.
    let mut order: Vec<u32> = Vec::new();
    let mut emitted = vec![false; n];
    let mut remaining: Vec<u32> = candidate_ids
        .iter()
        .copied()
        .filter(|&id| selected[id as usize])
        .collect();
    for _ in 0..=remaining.len() {
        if remaining.is_empty() {
            break;
        }
        let (ready, wait): (Vec<u32>, Vec<u32>) = remaining
            .into_iter()
            .partition(|&id| deps(id).iter().all(|d| emitted[*d as usize]));
        if ready.is_empty() {
            remaining = wait;
            break;
        }
        for &id in &ready {
            emitted[id as usize] = true;
        }
        order.extend(ready);
        remaining = wait;
    }
    for id in remaining {
        selected[id as usize] = false;
    }

    // Stage 4: decisions, in a stable order for people: environment, then tag name.
    let env_count = policy.environments.len();
    let env_of = |i: usize| environment[i].unwrap_or(env_count);
    let records = &inventory.tags;
    let mut tag_order: Vec<u32> = (0..u32::try_from(records.len()).unwrap_or(u32::MAX)).collect();
    if records.windows(2).all(|w| w[0].tag <= w[1].tag) {
        // Backends list tags sorted: only the (stable) grouping by environment is needed.
        tag_order.sort_by_key(|&i| env_of(i as usize));
    } else {
        // The first 16 bytes as a number decide almost every comparison; the names are
        // compared only when those are equal. Zero padding keeps the numeric order
        // consistent with the byte order of the names.
        let prefix = |s: &str| {
            let mut bytes = [0u8; 16];
            let head = &s.as_bytes()[..s.len().min(16)];
            bytes[..head.len()].copy_from_slice(head);
            u128::from_be_bytes(bytes)
        };
        let mut keyed: Vec<(usize, u128, u32)> = tag_order
            .iter()
            .map(|&i| (env_of(i as usize), prefix(&records[i as usize].tag), i))
            .collect();
        keyed.sort_unstable_by(|a, b| {
            (a.0, a.1)
                .cmp(&(b.0, b.1))
                .then_with(|| records[a.2 as usize].tag.cmp(&records[b.2 as usize].tag))
                .then(a.2.cmp(&b.2))
        });
        tag_order = keyed.into_iter().map(|k| k.2).collect();
    }

    // Tags of each digest, as one flat array (a million small vectors cost too much).
    let mut start = vec![0usize; n + 1];
    for &did in &tag_digest {
        start[did as usize + 1] += 1;
    }
    for k in 1..start.len() {
        start[k] += start[k - 1];
    }
    let mut fill = start.clone();
    let mut flat = vec![0usize; tag_digest.len()];
    for (i, &did) in tag_digest.iter().enumerate() {
        flat[fill[did as usize]] = i;
        fill[did as usize] += 1;
    }
    let tags_of = |did: u32| &flat[start[did as usize]..start[did as usize + 1]];
    let label = |did: u32| -> String {
        let first_by_name = || {
            tags_of(did)
                .iter()
                .copied()
                .min_by(|&a, &b| records[a].tag.cmp(&records[b].tag))
        };
        match best_anchor[did as usize].or_else(first_by_name) {
            Some(i) => records[i].tag.clone(),
            None => short_digest(digests.names[did as usize]).to_owned(),
        }
    };
    let kept_reason = |did: u32, own: usize| -> Reason {
        match kept[did as usize].as_ref() {
            Some(Via::Tag(i)) if *i != own => Reason::SharesDigest {
                tag: records[*i].tag.clone(),
            },
            Some(Via::Deployed(env)) => Reason::Deployed {
                environment: env.clone(),
            },
            Some(Via::Child(parent)) => Reason::IndexChild {
                parent: label(*parent),
            },
            Some(Via::Referrer(kind, subject)) => Reason::ReferrerOfKept {
                kind: *kind,
                subject: digests.names[*subject as usize].to_owned(),
            },
            Some(Via::Untagged) => Reason::UntaggedKept,
            _ => Reason::UnknownAge,
        }
    };
    let action_of = |did: u32| {
        if selected[did as usize] {
            Action::Delete
        } else {
            Action::Deferred
        }
    };
    let untagged: Vec<ManifestDecision> = untagged_ids
        .iter()
        .map(|&id| {
            let (action, reason) = if kept[id as usize].is_some() {
                (Action::Keep, kept_reason(id, usize::MAX))
            } else {
                (action_of(id), Reason::UntaggedUnreferenced)
            };
            ManifestDecision {
                digest: digests.names[id as usize].to_owned(),
                action,
                rule: reason.rule(),
                reason,
            }
        })
        .collect();

    let deletion = |id: u32| Deletion {
        digest: digests.names[id as usize].to_owned(),
        tags: {
            let mut names: Vec<String> = tags_of(id)
                .iter()
                .map(|&i| records[i].tag.clone())
                .collect();
            names.sort_unstable();
            names
        },
        size: manifest_of
            .get(&id)
            .and_then(|&m| inventory.manifests[m].size),
        after: {
            let mut after: Vec<String> = deps(id)
                .iter()
                .map(|&d| digests.names[d as usize].to_owned())
                .collect();
            after.sort_unstable();
            after.dedup();
            after
        },
    };
    let build_deletions = || {
        let deletions: Vec<Deletion> = order.iter().map(|&id| deletion(id)).collect();
        let deferred: Vec<Deletion> = candidate_ids
            .iter()
            .copied()
            .filter(|&id| !selected[id as usize])
            .map(deletion)
            .collect();
        (deletions, deferred)
    };
    let mut build_tags = || {
        let env_names: Vec<&String> = policy.environments.keys().collect();
        let mut counts: Vec<EnvironmentCounts> = vec![EnvironmentCounts::default(); env_count + 1];
        let mut tags: Vec<TagDecision> = Vec::with_capacity(records.len());
        for &i in &tag_order {
            let i = i as usize;
            let did = tag_digest[i];
            let stage = std::mem::replace(&mut stages[i], Stage::Anchor(Reason::Latest));
            let (action, reason) = match stage {
                Stage::Anchor(reason) => (Action::Keep, reason),
                Stage::Due(reason) if kept[did as usize].is_none() => (action_of(did), reason),
                Stage::Due(_) => (Action::Keep, kept_reason(did, i)),
                Stage::Referrer(kind, subject) => {
                    if kept[did as usize].is_some() {
                        let reason = match kept[did as usize].as_ref() {
                            Some(Via::Tag(j)) if *j == i => {
                                Reason::ReferrerOfUnknown { kind, subject }
                            }
                            _ => kept_reason(did, i),
                        };
                        (Action::Keep, reason)
                    } else {
                        (action_of(did), Reason::ReferrerOfDeleted { kind, subject })
                    }
                }
            };
            let c = &mut counts[env_of(i)];
            match action {
                Action::Keep => c.kept += 1,
                Action::Delete => c.deleted += 1,
                Action::Deferred => c.deferred += 1,
            }
            let record = &records[i];
            tags.push(TagDecision {
                tag: record.tag.clone(),
                digest: record.digest.clone(),
                environment: environment[i].map(|e| env_names[e].clone()),
                action,
                rule: reason.rule(),
                reason,
            });
        }
        (tags, counts)
    };
    // Both halves are bound by memory latency (a cache miss per name copied): on a large
    // repository the deletions are built on a second thread while the decisions are.
    // The result is the same either way.
    let ((tags, counts), (deletions, deferred)) =
        if records.len() + candidate_ids.len() >= PARALLEL_FROM {
            std::thread::scope(|scope| {
                let side = scope.spawn(build_deletions);
                let tags = build_tags();
                match side.join() {
                    Ok(deletions) => (tags, deletions),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            })
        } else {
            (build_tags(), build_deletions())
        };

    let environments = policy
        .environments
        .keys()
        .cloned()
        .chain(std::iter::once(OTHER_ENVIRONMENT.to_owned()))
        .zip(counts)
        .filter(|(name, c)| name != OTHER_ENVIRONMENT || c.kept + c.deleted + c.deferred > 0)
        .map(|(environment, c)| EnvironmentCounts { environment, ..c })
        .collect();

    Ok(RetentionPlan {
        repository: inventory.repository.clone(),
        now: input.now,
        max_deletions,
        tags,
        untagged,
        deletions,
        deferred,
        environments,
    })
}

fn anchor_of(stage: &Stage) -> u8 {
    match stage {
        Stage::Anchor(r) => r.anchor_rank(),
        _ => u8::MAX,
    }
}

fn pending_expired_time(stage: &Stage) -> Option<TimeDelta> {
    match stage {
        Stage::Due(Reason::Expired { age, .. }) => Some(*age),
        _ => None,
    }
}

/// The `n` newest distinct digests of `list` (time, digest). Images pushed in the same second
/// are ordered by digest, never by the order the backend happened to list them in.
fn newest_digests(list: &mut [(DateTime<Utc>, u32)], n: usize, names: &[&str]) -> HashSet<u32> {
    let mut set = HashSet::default();
    if n == 0 || list.is_empty() {
        return set;
    }
    // Integer tie-breaks keep the sort cheap; only the ties at the cut are compared by name.
    list.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut cut = None;
    for &(time, did) in list.iter() {
        if set.len() >= n {
            break;
        }
        if set.insert(did) {
            cut = Some(time);
        }
    }
    let Some(cut) = cut.filter(|_| set.len() == n) else {
        return set;
    };
    // Digests with a tag newer than the cut are in for sure; those whose newest tag is at the
    // cut compete for the remaining places by name.
    let newer = list.partition_point(|e| e.0 > cut);
    let sure: HashSet<u32> = list[..newer].iter().map(|e| e.1).collect();
    let mut tied: Vec<u32> = list[newer..]
        .iter()
        .take_while(|e| e.0 == cut)
        .map(|e| e.1)
        .filter(|did| !sure.contains(did))
        .collect();
    tied.sort_unstable_by(|a, b| names[*a as usize].cmp(names[*b as usize]));
    tied.dedup();
    let places = n - sure.len();
    sure.into_iter()
        .chain(tied.into_iter().take(places))
        .collect()
}

/// Adds index children and referrers of kept digests, transitively. A digest reached from
/// several kept ones names the first by (index before referrer, digest): the reason never
/// depends on the order tags were listed in.
fn close(
    kept: &mut [Option<Via>],
    work: &mut Vec<u32>,
    children: &HashMap<u32, Vec<u32>>,
    referrers: &HashMap<u32, Vec<(ReferrerKind, u32)>>,
    names: &[&str],
) {
    let rank = |via: &Via| -> Option<(u8, u8, &str)> {
        match via {
            Via::Child(parent) => Some((0, 0, names[*parent as usize])),
            Via::Referrer(kind, subject) => Some((1, *kind as u8, names[*subject as usize])),
            _ => None,
        }
    };
    let reach = |kept: &mut [Option<Via>], work: &mut Vec<u32>, target: u32, via: Via| match &kept
        [target as usize]
    {
        None => {
            kept[target as usize] = Some(via);
            work.push(target);
        }
        Some(old) => {
            if let (Some(old), Some(new)) = (rank(old), rank(&via))
                && new < old
            {
                kept[target as usize] = Some(via);
            }
        }
    };
    while let Some(did) = work.pop() {
        if let Some(list) = children.get(&did) {
            for &c in list {
                reach(kept, work, c, Via::Child(did));
            }
        }
        if let Some(list) = referrers.get(&did) {
            for &(kind, r) in list {
                reach(kept, work, r, Via::Referrer(kind, did));
            }
        }
    }
}

/// The compiled `retention.protected` globs.
struct Protected {
    set: GlobSet,
    patterns: Vec<String>,
    /// The literal text every match starts with, per pattern (up to its first
    /// metacharacter); `None` when some pattern starts with one. Tags that start with none of
    /// these cannot match, so most tags never reach the glob matcher.
    prefixes: Option<Vec<String>>,
}

impl Protected {
    /// The first pattern `tag` matches.
    fn find(&self, tag: &str) -> Option<&str> {
        if let Some(prefixes) = &self.prefixes
            && !prefixes.iter().any(|p| tag.starts_with(p.as_str()))
        {
            return None;
        }
        self.set
            .matches(tag)
            .first()
            .map(|&p| self.patterns[p].as_str())
    }
}

fn compile_protected(patterns: &[String]) -> Result<Option<Protected>, PlanError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|source| PlanError::BadPattern {
            pattern: pattern.clone(),
            source,
        })?;
        builder.add(glob);
    }
    let set = builder
        .build()
        .map_err(|source| PlanError::PatternSet { source })?;
    let prefixes: Vec<String> = patterns
        .iter()
        .map(|p| {
            p.chars()
                .take_while(|c| !matches!(c, '*' | '?' | '[' | '{' | '\\'))
                .collect()
        })
        .collect();
    Ok(Some(Protected {
        set,
        patterns: patterns.to_vec(),
        prefixes: prefixes.iter().all(|p| !p.is_empty()).then_some(prefixes),
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod reader_tests {
    use proptest::prelude::*;

    use super::*;

    fn facts_from_scheme(policy: &Policy, scheme: &TagScheme, tag: &str) -> Option<TagFacts> {
        scheme.parse(tag).map(|p| TagFacts {
            env: p
                .environment
                .as_deref()
                .and_then(|n| policy.environments.get_index_of(n)),
            latest: p.latest,
            timestamp: p.timestamp,
        })
    }

    proptest! {
        /// The fast path reads every tag exactly as the scheme's regex parser does.
        #[test]
        fn fast_reader_agrees_with_the_scheme(
            prefix in prop::sample::select(vec!["dev", "staging", "prod", "pro", "x"]),
            sha in "[0-9a-fA-F]{6,8}",
            date in "[0-9]{8}",
            time in "[0-9]{6}",
            shape in 0u8..4,
        ) {
            let mut policy = Policy::embedded_default();
            // A prefix that is a prefix of another one.
            let mut extra = policy.environments["production"].clone();
            extra.tag_prefix = "prod-eu".to_owned();
            policy.environments.insert("eu".to_owned(), extra);
            let scheme = TagScheme::new(&policy).unwrap();
            let reader = TagReader::new(&policy, &scheme);
            prop_assert!(reader.fast.is_some());
            let tag = match shape {
                0 => format!("{prefix}-{sha}-{date}-{time}"),
                1 => format!("{prefix}-latest"),
                2 => format!("{prefix}-eu-{sha}-{date}-{time}"),
                _ => format!("{prefix}{sha}-{date}{time}"),
            };
            prop_assert_eq!(reader.read(&tag), facts_from_scheme(&policy, &scheme, &tag), "{}", tag);
        }

        /// No panic and the same answer on arbitrary text.
        #[test]
        fn fast_reader_agrees_on_arbitrary_text(tag in "\\PC{0,40}") {
            let policy = Policy::embedded_default();
            let scheme = TagScheme::new(&policy).unwrap();
            let reader = TagReader::new(&policy, &scheme);
            prop_assert_eq!(reader.read(&tag), facts_from_scheme(&policy, &scheme, &tag));
        }
    }

    proptest! {
        /// The cut-and-tie-break selection equals sorting by (newest time, digest name).
        #[test]
        fn newest_digests_is_the_naive_selection(
            entries in proptest::collection::vec((0i64..6, 0u32..8), 0..30),
            n in 0usize..6,
        ) {
            let names: Vec<String> = (0..8).map(|k| format!("sha256:{:x}", 7 - k)).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let base = chrono::DateTime::<Utc>::UNIX_EPOCH;
            let mut list: Vec<(DateTime<Utc>, u32)> = entries
                .iter()
                .map(|&(t, d)| (base + TimeDelta::seconds(t), d))
                .collect();
            let mut newest: std::collections::BTreeMap<u32, DateTime<Utc>> = Default::default();
            for &(t, d) in &list {
                let e = newest.entry(d).or_insert(t);
                *e = (*e).max(t);
            }
            let mut naive: Vec<(DateTime<Utc>, &str, u32)> =
                newest.iter().map(|(&d, &t)| (t, names[d as usize], d)).collect();
            naive.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
            let mut expected: Vec<u32> = naive.iter().take(n).map(|e| e.2).collect();
            expected.sort_unstable();
            let mut got: Vec<u32> = newest_digests(&mut list, n, &names).into_iter().collect();
            got.sort_unstable();
            prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn impossible_dates_and_leap_seconds_match_the_scheme() {
        let policy = Policy::embedded_default();
        let scheme = TagScheme::new(&policy).unwrap();
        let reader = TagReader::new(&policy, &scheme);
        for tag in [
            "dev-abcdef0-20251301-000000",
            "dev-abcdef0-20251231-235960",
            "dev-abcdef0-20250229-120000",
            "dev-abcdef0-20240229-120000",
            "prod-latest",
            "prod-latest-x",
        ] {
            assert_eq!(
                reader.read(tag),
                facts_from_scheme(&policy, &scheme, tag),
                "{tag}"
            );
        }
    }
}
