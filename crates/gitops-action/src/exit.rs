//! Exit codes and how errors are reported.

use std::process::ExitCode;

/// A successful run's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything passed (exit 0).
    Success,
    /// A gate or the policy said no (exit 1): the pipeline should stop.
    Denied,
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        match status {
            Status::Success => ExitCode::SUCCESS,
            Status::Denied => ExitCode::from(1),
        }
    }
}

/// Marks an error as a failure of an external system (registry, git remote, API): exit 3.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct External(#[from] pub anyhow::Error);

/// Wraps any error as an external failure (exit 3).
pub fn external(err: impl Into<anyhow::Error>) -> anyhow::Error {
    External(err.into()).into()
}

/// Marks an error as a verdict rather than a usage problem: exit 1.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Denied(#[from] pub anyhow::Error);

/// The exit code for an error: 3 for external failures, 1 for denials, else 2.
pub fn code_for(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<External>()) {
        3
    } else if err.chain().any(|e| e.is::<Denied>()) {
        1
    } else {
        2
    }
}

/// Prints the error chain on stderr (and as an annotation in GitHub Actions); returns its code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    let mut text = format!("error: {err}");
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        // `transparent` wrappers repeat their inner message; print each message once.
        if !text.contains(&cause) {
            text.push_str(&format!("\n  caused by: {cause}"));
        }
    }
    eprintln!("{text}");
    if crate::github_actions::in_actions() {
        crate::github_actions::error_annotation(&text, None);
    }
    ExitCode::from(code_for(err))
}
