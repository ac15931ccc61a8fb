//! What every command gets: output format, the policy, and the clock (read once, here only).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use gitops_core::policy::Policy;

use crate::cli::{Format, GlobalArgs};

/// Where the policy came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// A file on disk.
    File(PathBuf),
    /// The embedded default.
    Embedded,
}

impl std::fmt::Display for PolicySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Embedded => f.write_str("<embedded default>"),
        }
    }
}

/// Shared state of one invocation.
#[derive(Debug)]
pub struct Context {
    /// Requested output format.
    pub format: Format,
    /// `-v` given.
    pub verbose: bool,
    /// `--policy` given.
    pub policy_flag: Option<PathBuf>,
    /// The wall clock, read once at start-up.
    pub now: DateTime<Utc>,
    policy: OnceLock<(Policy, PolicySource)>,
}

impl Context {
    /// Builds the context from the global flags.
    pub fn from_cli(global: &GlobalArgs) -> anyhow::Result<Self> {
        Ok(Self {
            format: global.format,
            verbose: global.verbose,
            policy_flag: global.policy.clone(),
            now: clock()?,
            policy: OnceLock::new(),
        })
    }

    /// Whether JSON output was requested.
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// Where the policy is read from: `--policy`, `./gitops.yaml`, `./.github/gitops.yaml`,
    /// else the embedded default.
    pub fn policy_source(&self) -> PolicySource {
        if let Some(path) = &self.policy_flag {
            return PolicySource::File(path.clone());
        }
        for candidate in ["gitops.yaml", ".github/gitops.yaml"] {
            if Path::new(candidate).is_file() {
                return PolicySource::File(PathBuf::from(candidate));
            }
        }
        PolicySource::Embedded
    }

    /// Where the loaded policy came from (loads it first if needed).
    pub fn loaded_policy(&self) -> anyhow::Result<(&Policy, &PolicySource)> {
        self.policy()?;
        match self.policy.get() {
            Some((policy, source)) => Ok((policy, source)),
            None => anyhow::bail!("the policy could not be loaded"),
        }
    }

    /// The policy, loaded and validated once (`Policy::load`: every problem is reported
    /// with its file:line:column; exit 2).
    pub fn policy(&self) -> anyhow::Result<&Policy> {
        if let Some((policy, _)) = self.policy.get() {
            return Ok(policy);
        }
        let source = self.policy_source();
        let policy = match &source {
            PolicySource::File(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read policy file {}", path.display()))?;
                Policy::load(&text, &path.display().to_string())?
            }
            PolicySource::Embedded => Policy::embedded_default(),
        };
        Ok(&self.policy.get_or_init(|| (policy, source)).0)
    }

    /// Time stamped into build artefacts: `SOURCE_DATE_EPOCH` when set (reproducible runs),
    /// else now.
    pub fn build_time(&self) -> anyhow::Result<DateTime<Utc>> {
        match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(value) => {
                let secs: i64 = value.trim().parse().with_context(|| {
                    format!(
                        "SOURCE_DATE_EPOCH='{value}' is not a whole number of seconds since 1970"
                    )
                })?;
                DateTime::from_timestamp(secs, 0)
                    .with_context(|| format!("SOURCE_DATE_EPOCH='{value}' is out of range"))
            }
            Err(_) => Ok(self.now),
        }
    }
}

/// The current time: `GITOPS_NOW` (RFC 3339) when set, for reproducible runs and tests
/// (the local pipeline sets it for the commands it runs), else the system clock.
fn clock() -> anyhow::Result<DateTime<Utc>> {
    match std::env::var("GITOPS_NOW") {
        Ok(value) if !value.trim().is_empty() => DateTime::parse_from_rfc3339(value.trim())
            .map(|t| t.with_timezone(&Utc))
            .with_context(|| {
                format!("GITOPS_NOW='{value}' is not an RFC 3339 time such as 2025-12-03T12:00:00Z")
            }),
        _ => Ok(Utc::now()),
    }
}

/// Runs a future to completion on a fresh multi-threaded Tokio runtime (for commands that
/// talk to registries or APIs).
pub fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(future))
}

/// Writes `text` to stdout. A closed pipe (`gitops tag | head -1`) is not an error: the
/// reader has what it wanted, so the rest is dropped instead of panicking like `print!`.
pub fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}
