//! The vulnerability allow-list: IDs accepted for a documented reason until an expiry date.
//!
//! ```yaml
//! vulnerabilities:
//!   - id: CVE-2024-12345
//!     reason: the vulnerable parser is never called with untrusted input
//!     expires: 2026-12-31   # valid through this day (UTC)
//! ```

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::GateError;

/// An allow-list file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Allowlist {
    /// Accepted vulnerabilities.
    #[serde(default)]
    pub vulnerabilities: Vec<AllowlistEntry>,
}

/// One accepted vulnerability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowlistEntry {
    /// Vulnerability ID as the scanner reports it (`CVE-2024-12345`, `GHSA-...`).
    pub id: String,
    /// Why it is acceptable (required: an allow-list without reasons is not reviewable).
    pub reason: String,
    /// Last day (UTC) the entry applies; from the next day the vulnerability fails again.
    pub expires: NaiveDate,
}

impl AllowlistEntry {
    /// Whether the entry no longer applies at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now.date_naive() > self.expires
    }
}

impl Allowlist {
    /// Parses allow-list YAML; `file` names it in errors. Entries with an empty reason are
    /// rejected.
    pub fn parse(text: &str, file: &str) -> Result<Self, GateError> {
        let list: Self = if text.trim().is_empty() {
            Self::default()
        } else {
            serde_norway::from_str(text).map_err(|source| GateError::Allowlist {
                file: file.to_owned(),
                source,
            })?
        };
        if let Some(entry) = list
            .vulnerabilities
            .iter()
            .find(|e| e.reason.trim().is_empty() || e.id.trim().is_empty())
        {
            return Err(GateError::Invalid {
                file: file.to_owned(),
                format: "allow-list",
                problem: format!(
                    "entry '{}' needs a non-empty id and reason (why the vulnerability is acceptable)",
                    entry.id
                ),
            });
        }
        Ok(list)
    }

    /// The entry for a vulnerability ID, if any (case-insensitive).
    pub fn entry(&self, id: &str) -> Option<&AllowlistEntry> {
        self.vulnerabilities
            .iter()
            .find(|e| e.id.trim().eq_ignore_ascii_case(id))
    }

    /// Adds another file's entries.
    pub fn extend(&mut self, other: Self) {
        self.vulnerabilities.extend(other.vulnerabilities);
    }
}
